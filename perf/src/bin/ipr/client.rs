//! A blocking keep-alive HTTP/1.1 client: one connection, one request at a
//! time, every reply read whole (`Content-Length` bodies only; the servers
//! under test send nothing else).

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// What one reply told us.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// The `name=value` pair of the `Set-Cookie` header, if any.
    pub(crate) cookie: Option<String>,
}

/// One connection.
pub(crate) struct Client {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
    request: Vec<u8>,
}

impl Client {
    pub(crate) fn connect(addr: SocketAddr) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("connect to {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        // Generous: the server runs under callgrind, some 50 times slower.
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            stream,
            host: addr.to_string(),
            buf: Vec::with_capacity(4096),
            request: Vec::with_capacity(256),
        })
    }

    /// `GET path`, with `cookie` (a `name=value` pair) when given.
    pub(crate) fn get(&mut self, path: &str, cookie: Option<&str>) -> Result<Reply, String> {
        self.request.clear();
        let _ = write!(
            self.request,
            "GET {path} HTTP/1.1\r\nhost: {}\r\n",
            self.host
        );
        if let Some(cookie) = cookie {
            let _ = write!(self.request, "cookie: {cookie}\r\n");
        }
        self.request.extend_from_slice(b"\r\n");
        self.stream
            .write_all(&self.request)
            .map_err(|e| format!("GET {path}: write: {e}"))?;
        self.read_reply().map_err(|e| format!("GET {path}: {e}"))
    }

    fn read_reply(&mut self) -> Result<Reply, String> {
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(Head {
                length: head,
                status,
                body_length,
                cookie,
            }) = parse_head(&self.buf)?
            {
                let end = head + body_length;
                while self.buf.len() < end {
                    self.fill(&mut chunk)?;
                }
                if self.buf.len() > end {
                    return Err("unexpected bytes after the reply".into());
                }
                let body = self.buf[head..end].to_vec();
                return Ok(Reply {
                    status,
                    body,
                    cookie,
                });
            }
            self.fill(&mut chunk)?;
        }
    }

    fn fill(&mut self, chunk: &mut [u8]) -> Result<(), String> {
        let n = self.stream.read(chunk).map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed by the server".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

/// A reply's head.
struct Head {
    /// Its length in bytes.
    length: usize,
    status: u16,
    /// `Content-Length` (0 when absent).
    body_length: usize,
    /// The `Set-Cookie` pair.
    cookie: Option<String>,
}

/// The head at the start of `buf`, once it is complete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("bad reply: {e}")),
    };
    let mut length = None;
    let mut cookie = None;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).map_err(|e| e.to_string())?;
            length = Some(text.trim().parse::<usize>().map_err(|e| e.to_string())?);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked replies are not supported".into());
        } else if header.name.eq_ignore_ascii_case("set-cookie") {
            let text = std::str::from_utf8(header.value).map_err(|e| e.to_string())?;
            cookie = text.split(';').next().map(|pair| pair.trim().to_owned());
        }
    }
    Ok(Some(Head {
        length: head,
        status: response.code.unwrap_or(0),
        body_length: length.unwrap_or(0),
        cookie,
    }))
}
