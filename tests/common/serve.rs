//! A `Router` served by `axum::serve` on a real TCP port, and a minimal raw
//! HTTP/1.1 client that opens a new connection for every request, so tests go
//! through the same path as a browser: socket, hyper, router, layer.

use std::net::SocketAddr;

use axum::Router;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Serves `app` on `127.0.0.1:<ephemeral>` in a task of the current runtime
/// (with `ConnectInfo<SocketAddr>`), and returns the address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, service).await.unwrap();
    });
    addr
}

/// Like [`serve`], on a multi-thread runtime of its own with `workers`
/// threads, left running until the process exits. A test whose server could
/// deadlock uses it: blocked server threads then cannot stop the test's own
/// runtime, whose timers still fire (in a multi-thread runtime only the
/// worker threads drive the timer, not the thread blocked in `block_on`).
pub fn serve_on_own_runtime(app: Router, workers: usize) -> SocketAddr {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            sender.send(listener.local_addr().unwrap()).unwrap();
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            axum::serve(listener, service).await.unwrap();
        });
    });
    receiver.recv().unwrap()
}

/// What came back from one raw request.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    /// Every `Set-Cookie` header, whole.
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl RawReply {
    /// The `name=value` pair of the one `Set-Cookie`, ready to send back.
    pub fn cookie_pair(&self) -> String {
        assert_eq!(self.set_cookies.len(), 1, "{self:?}");
        self.set_cookies[0].split(';').next().unwrap().to_owned()
    }
}

/// Sends `GET path` over a new connection to `addr` with `headers` (values as
/// raw bytes, so non-ASCII bytes can be sent), and reads the reply to EOF.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &[u8])]) -> RawReply {
    let mut request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n").into_bytes();
    for (name, value) in headers {
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");

    let mut stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|err| panic!("connect to {addr}: {err}"));
    stream.write_all(&request).await.unwrap();
    let mut raw = Vec::new();
    // `Connection: close`: the server closes once the response is sent.
    stream.read_to_end(&mut raw).await.unwrap();
    parse(&raw)
}

/// Parses a whole HTTP/1.1 response: status line, headers, body.
fn parse(raw: &[u8]) -> RawReply {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(raw) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!(
            "incomplete or invalid response ({other:?}): {:?}",
            String::from_utf8_lossy(raw)
        ),
    };
    let mut set_cookies = Vec::new();
    let mut length = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        let value = String::from_utf8_lossy(header.value).into_owned();
        match header.name.to_ascii_lowercase().as_str() {
            "set-cookie" => set_cookies.push(value),
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let rest = &raw[head_len..];
    let body = if chunked {
        dechunk(rest)
    } else {
        rest[..length.unwrap_or(rest.len()).min(rest.len())].to_vec()
    };
    RawReply {
        status: response.code.expect("a status code"),
        set_cookies,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The body of a chunked message: `<hex size>[;ext]\r\n<data>\r\n`, until size 0.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        rest = &rest[end + 2..];
        if size == 0 || size > rest.len() {
            break;
        }
        body.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    body
}
