//! One simulated user: a cookie jar of its own, one keep-alive HTTP/1.1
//! connection to each instance, and requests that alternate between the two
//! instances: 70 % `/read`, 20 % `/write`, 5 % `/login/{user}`, 5 % `/logout`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::stats::{Error, Record};

/// The path of the next request, drawn from the mix.
fn pick(user: usize) -> String {
    match rand::random_range(0..100u32) {
        0..70 => "/read".to_owned(),
        70..90 => "/write".to_owned(),
        90..95 => format!("/login/user-{user}"),
        _ => "/logout".to_owned(),
    }
}

/// The cookies a browser would send back.
#[derive(Default)]
struct Jar {
    cookies: BTreeMap<String, String>,
}

impl Jar {
    /// Applies one `Set-Cookie` header: stores the pair, or removes it when
    /// the server tells the browser to drop it (`Max-Age=0` or an empty value).
    fn set(&mut self, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
            return;
        };
        let dropped =
            value.is_empty() || parts.any(|attr| attr.trim().eq_ignore_ascii_case("max-age=0"));
        if dropped {
            self.cookies.remove(name.trim());
        } else {
            self.cookies
                .insert(name.trim().to_owned(), value.trim().to_owned());
        }
    }

    /// The `Cookie` header line, if any cookie is kept.
    fn header(&self, out: &mut String) {
        if self.cookies.is_empty() {
            return;
        }
        out.push_str("cookie: ");
        for (i, (name, value)) in self.cookies.iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            let _ = write!(out, "{name}={value}");
        }
        out.push_str("\r\n");
    }
}

/// A keep-alive connection to one instance, opened when first needed and
/// again after a failure.
struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            stream: None,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Sends `request`, returns the status and every `Set-Cookie` value.
    async fn send(&mut self, request: &[u8]) -> Result<(u16, Vec<String>), String> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let _ = stream.set_nodelay(true);
            self.stream = Some(stream);
            self.buf.clear();
        }
        let result = exchange(
            self.stream.as_mut().expect("connected"),
            &mut self.buf,
            request,
        )
        .await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }
}

async fn exchange(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    request: &[u8],
) -> Result<(u16, Vec<String>), String> {
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("write: {e}"))?;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(buf) {
            Ok(httparse::Status::Complete(head)) => {
                let status = response.code.unwrap_or(0);
                let mut length = None;
                let mut cookies = Vec::new();
                for header in response.headers.iter() {
                    if header.name.eq_ignore_ascii_case("content-length") {
                        length = std::str::from_utf8(header.value)
                            .ok()
                            .and_then(|v| v.trim().parse::<usize>().ok());
                    } else if header.name.eq_ignore_ascii_case("set-cookie") {
                        cookies.push(String::from_utf8_lossy(header.value).into_owned());
                    }
                }
                let total = head + length.ok_or("a response without content-length")?;
                while buf.len() < total {
                    read_more(stream, buf).await?;
                }
                buf.drain(..total);
                return Ok((status, cookies));
            }
            Ok(httparse::Status::Partial) => read_more(stream, buf).await?,
            Err(e) => return Err(format!("bad response: {e}")),
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    buf.reserve(4096);
    match stream.read_buf(buf).await {
        Ok(0) => Err("connection closed by the server".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}

/// Sends requests until `stop`, alternating between `addrs`, recording
/// into `record` (times relative to `start`).
pub(crate) async fn run(
    user: usize,
    addrs: [SocketAddr; 2],
    start: Instant,
    timeout: Duration,
    stop: Arc<AtomicBool>,
    mut record: Record,
) -> Record {
    let mut jar = Jar::default();
    let mut conns = addrs.map(Conn::new);
    let mut request = String::with_capacity(512);
    let mut turn = user % 2;
    while !stop.load(Ordering::Relaxed) {
        let path = pick(user);
        let conn = &mut conns[turn];
        turn = 1 - turn;
        request.clear();
        let _ = write!(request, "GET {path} HTTP/1.1\r\nhost: {}\r\n", conn.addr);
        jar.header(&mut request);
        request.push_str("\r\n");
        let sent = Instant::now();
        let result = tokio::time::timeout(timeout, conn.send(request.as_bytes())).await;
        let at = start.elapsed().as_secs_f64();
        let failure = match result {
            Ok(Ok((200, cookies))) => {
                for cookie in &cookies {
                    jar.set(cookie);
                }
                record.ok(at, sent.elapsed());
                continue;
            }
            Ok(Ok((status, cookies))) => {
                for cookie in &cookies {
                    jar.set(cookie);
                }
                (
                    format!("status {status}"),
                    format!("GET {path}: status {status}"),
                )
            }
            Ok(Err(err)) => ("connection".to_owned(), format!("GET {path}: {err}")),
            Err(_) => {
                conn.stream = None;
                (
                    "timeout".to_owned(),
                    format!("GET {path}: no response in {:.0} s", timeout.as_secs_f64()),
                )
            }
        };
        record.error(Error {
            at,
            kind: failure.0,
            detail: failure.1,
        });
        // A failing server is not hammered in a tight loop.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    record
}
