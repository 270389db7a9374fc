//! The HTTP load client: keep-alive HTTP/1.1 connections, raw (`httparse`)
//! or hyper, that send one prepared request at a time and count the replies.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Phases of a cell, shared with every connection task.
pub(crate) const WARMUP: u8 = 0;
pub(crate) const MEASURE: u8 = 1;
pub(crate) const STOP: u8 = 2;

/// The most failure messages kept per cell (all failures are counted).
const KEPT_FAILURES: usize = 5;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientKind {
    Raw,
    Hyper,
}

/// What one response told us.
struct Reply {
    status: u16,
    /// The `name=value` pair of the first `Set-Cookie`, when asked for.
    cookie: Option<String>,
}

/// One keep-alive HTTP/1.1 connection.
pub(crate) enum Conn {
    /// Pre-built request bytes out, `httparse` on the way back: cheap.
    Raw { stream: TcpStream, buf: Vec<u8> },
    Hyper {
        sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    },
}

/// One request, ready to send many times.
pub(crate) struct Prepared {
    raw: Vec<u8>,
    path: &'static str,
    cookie: Option<String>,
}

impl Prepared {
    pub(crate) fn new(addr: SocketAddr, path: &'static str, cookie: Option<String>) -> Self {
        let mut raw = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n");
        if let Some(cookie) = &cookie {
            let _ = write!(raw, "cookie: {cookie}\r\n");
        }
        raw.push_str("\r\n");
        Self {
            raw: raw.into_bytes(),
            path,
            cookie,
        }
    }
}

impl Conn {
    pub(crate) async fn open(addr: SocketAddr, kind: ClientKind) -> Result<Self, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(match kind {
            ClientKind::Raw => Conn::Raw {
                stream,
                buf: Vec::with_capacity(4096),
            },
            ClientKind::Hyper => {
                let io = hyper_util::rt::TokioIo::new(stream);
                let (sender, connection) = hyper::client::conn::http1::handshake(io)
                    .await
                    .map_err(|e| format!("handshake: {e}"))?;
                tokio::spawn(connection);
                Conn::Hyper { sender }
            }
        })
    }

    async fn send(&mut self, request: &Prepared, want_cookie: bool) -> Result<Reply, String> {
        match self {
            Conn::Raw { stream, buf } => raw_send(stream, buf, &request.raw, want_cookie).await,
            Conn::Hyper { sender } => {
                let mut builder = hyper::Request::get(request.path);
                if let Some(cookie) = &request.cookie {
                    builder = builder.header("cookie", cookie.as_str());
                }
                let req = builder.body(Empty::new()).map_err(|e| e.to_string())?;
                sender.ready().await.map_err(|e| format!("ready: {e}"))?;
                let response = sender
                    .send_request(req)
                    .await
                    .map_err(|e| format!("send: {e}"))?;
                let status = response.status().as_u16();
                let cookie = want_cookie
                    .then(|| response.headers().get("set-cookie"))
                    .flatten()
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.split(';').next().unwrap_or("").to_owned());
                response
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| format!("body: {e}"))?;
                Ok(Reply { status, cookie })
            }
        }
    }
}

async fn raw_send(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    request: &[u8],
    want_cookie: bool,
) -> Result<Reply, String> {
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 24];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buf) {
            Ok(httparse::Status::Complete(head_len)) => {
                let status = response.code.unwrap_or(0);
                let mut body_len = None;
                let mut cookie = None;
                for header in response.headers.iter() {
                    if header.name.eq_ignore_ascii_case("content-length") {
                        body_len = std::str::from_utf8(header.value)
                            .ok()
                            .and_then(|v| v.trim().parse::<usize>().ok());
                    } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                        return Err("chunked responses are not supported".into());
                    } else if want_cookie
                        && cookie.is_none()
                        && header.name.eq_ignore_ascii_case("set-cookie")
                    {
                        let value = String::from_utf8_lossy(header.value);
                        cookie = Some(value.split(';').next().unwrap_or("").to_owned());
                    }
                }
                let body_len = body_len.ok_or("response without content-length")?;
                let total = head_len + body_len;
                while buf.len() < total {
                    read_more(stream, buf).await?;
                }
                buf.drain(..total);
                return Ok(Reply { status, cookie });
            }
            Ok(httparse::Status::Partial) => read_more(stream, buf).await?,
            Err(e) => return Err(format!("bad response: {e}")),
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    if buf.capacity() - buf.len() < 1024 {
        buf.reserve(4096);
    }
    match stream.read_buf(buf).await {
        Ok(0) => Err("connection closed by the server".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}

/// Failures of one cell: all counted, the first few kept.
#[derive(Default)]
pub(crate) struct Failures {
    pub(crate) count: u64,
    pub(crate) samples: Vec<String>,
}

impl Failures {
    pub(crate) fn add(&mut self, message: String) {
        self.count += 1;
        if self.samples.len() < KEPT_FAILURES {
            self.samples.push(message);
        }
    }

    pub(crate) fn merge(&mut self, other: Failures) {
        self.count += other.count;
        for message in other.samples {
            if self.samples.len() < KEPT_FAILURES {
                self.samples.push(message);
            }
        }
    }
}

/// A session cookie from `app` (one `GET /write`), or a dummy pair of the
/// length of sessionware's when the app sets none.
pub(crate) async fn fetch_cookie(
    conn: &mut Conn,
    addr: SocketAddr,
    failures: &mut Failures,
) -> Result<String, String> {
    let reply = conn
        .send(&Prepared::new(addr, "/write", None), true)
        .await?;
    if reply.status != 200 {
        failures.add(format!(
            "GET /write (cookie setup): status {}",
            reply.status
        ));
    }
    Ok(reply
        .cookie
        .unwrap_or_else(|| format!("id={}", "x".repeat(87))))
}

/// Sends `request` until the phase is `STOP`; counts successes while `MEASURE`.
pub(crate) async fn drive(
    mut conn: Conn,
    addr: SocketAddr,
    kind: ClientKind,
    request: Prepared,
    phase: Arc<AtomicU8>,
) -> (u64, Failures) {
    let mut ok = 0u64;
    let mut failures = Failures::default();
    loop {
        let result = conn.send(&request, false).await;
        let now = phase.load(Ordering::Relaxed);
        let measuring = now == MEASURE;
        match result {
            Ok(reply) if reply.status == 200 => ok += u64::from(measuring),
            Ok(reply) => failures.add(format!("GET {}: status {}", request.path, reply.status)),
            Err(err) => {
                failures.add(format!("GET {}: {err}", request.path));
                match Conn::open(addr, kind).await {
                    Ok(fresh) => conn = fresh,
                    Err(err) => {
                        failures.add(format!("reconnect: {err}"));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }
        // The reply that straddles the end is checked, but not counted.
        if now == STOP {
            break;
        }
    }
    (ok, failures)
}
