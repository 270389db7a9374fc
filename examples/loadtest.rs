//! HTTP load test: bare axum, axum + tower-sessions 0.15 and axum + sessionware,
//! served side by side on 127.0.0.1 and loaded in one run.
//!
//! ```text
//! cargo run --release --example loadtest
//! cargo run --release --example loadtest -- --duration 5 --rounds 5 --connections 64
//! ```
//!
//! Every app has the same four routes:
//!
//! * `/ignore`: the handler does not take the session (a valid cookie is sent);
//! * `/read`: reads key `n` of an existing session;
//! * `/write`: reads `n` and writes `n + 1`;
//! * `/new`: inserts `n`; no cookie is sent, so every request creates a session.
//!
//! Before each measurement every connection gets a session of its own from
//! the app under test (one `GET /write`), then sends that cookie on every
//! request (`--shared-session` makes all connections share one session, to
//! show contention on one record). Against bare axum a dummy cookie of the
//! same length is sent, so every app parses the same headers.
//!
//! The matrix (scenario x app) runs `--rounds` times; within a round the app
//! order rotates from scenario to scenario, so slow drift of the machine
//! affects every app alike. Each cell is `--warmup` seconds unmeasured, then
//! `--duration` seconds measured, with `--connections` keep-alive HTTP/1.1
//! connections each sending one request at a time. Every response is checked
//! for status 200; anything else, and any I/O or protocol error, is a failure,
//! and a run with failures says so at the end and exits with status 1.
//!
//! It prints Markdown: per scenario the median requests/s of each app and the
//! ratios tower-sessions/bare and sessionware/bare against the targets; then
//! the median server CPU time per request (from `/proc`, server threads only,
//! so the load client's own CPU use does not blur the comparison) and each
//! layer's cost over bare axum; then how busy server and client threads were,
//! and how much CPU other programs took meanwhile (read from `/proc/stat`; a
//! run that competed with other work says so, as its ratios are then noisy).
//!
//! The server and the client run on separate tokio runtimes
//! (`--server-threads`, default 1, and `--client-threads`, default 1), so on a
//! two-core machine each has a core. The default client (`--client raw`)
//! writes pre-built requests and parses responses with `httparse`, so that it
//! costs much less CPU than the server; `--client hyper` uses hyper's HTTP/1
//! client connections instead, as a cross-check. Check the busy-cores table:
//! when the server threads are near 1.00 the server is the bottleneck and the
//! throughput ratios are cost ratios; if the client is the busier side, the
//! ratios are squeezed towards 1.
//!
//! A default run (36 cells) takes about two minutes.
//!
//! On a shared machine, `--retry-disturbed N` (default 0) measures a cell
//! again, up to N times, while other programs kept more than 0.15 cores busy
//! during it, and keeps the least disturbed attempt (failures of every attempt
//! still count); the progress lines show every attempt.
//!
//! For profiling, `--only APP/SCENARIO` (for example `--only sessionware/read`)
//! loads that one cell `--rounds` times and prints no table; run it under
//! `perf record` and look at the `lt-server` threads.
//!
//! Every option can also be given as an environment variable: `LOADTEST_`
//! followed by the option name in capitals, `-` as `_` (for example
//! `LOADTEST_DURATION=5`).
//!
//! # Redis
//!
//! ```text
//! cargo run --release --example loadtest --features redis-store -- --redis
//! ```
//!
//! `--redis` (or `LOADTEST_REDIS=1`; needs the `redis-store` feature) adds two
//! apps to the rotation: tower-sessions 0.15 over `tower-sessions-redis-store`
//! 0.16 (GET, SET NX/XX with EXAT, MessagePack records; on a `fred` pool of
//! `--redis-pool` connections, default 1), and sessionware over its
//! `RedisStore` (HGET, Lua create/save scripts; one multiplexed
//! `ConnectionManager` connection). Both pools then hold one connection, and
//! both clients pipeline concurrent commands on it. A second table compares
//! them with bare axum and checks sessionware + Redis against 1.5 times
//! tower-sessions + Redis on `/read`, `/write` and `/new`.
//!
//! `tower-sessions-redis-store` 0.16, its latest release, implements the
//! `SessionStore` trait of tower-sessions-core 0.14, which is identical to
//! 0.15's; a small bridge below adapts it (it copies the record's map once per
//! create or save, a fraction of a microsecond).
//!
//! The server is `--redis-url`, else `REDIS_URL`, else
//! `redis://127.0.0.1:6379`. Nothing is flushed: sessionware's keys carry a
//! prefix unique to the run (`loadtest-<pid>-<ms>:sessionware:`), and
//! tower-sessions-redis-store, which has no key prefix, stores bare random
//! 128-bit session ids, which the bridge records as they are created. At the
//! end both sets are deleted (`SCAN MATCH` on the prefix, `UNLINK` by id);
//! should the run be killed, every key still expires on its own after the
//! sessions' idle timeout (10 minutes, or longer for long cells, so that no
//! read refreshes a deadline during a measurement). The Redis server's CPU
//! time is read with `INFO cpu` around every cell: it is shown in the Redis
//! table, and when the server is local it is not counted as "other programs".

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const SERVER_THREAD: &str = "lt-server";
const CLIENT_THREAD: &str = "lt-client";

/// Phases of a cell, shared with every connection task.
const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

/// Busy cores outside this process above which a run is called disturbed.
const DISTURBED: f64 = 0.15;

/// The most failure messages kept per cell (all failures are counted).
const KEPT_FAILURES: usize = 5;

#[derive(Clone, Copy, PartialEq, Eq)]
enum App {
    Bare,
    TowerSessions,
    Sessionware,
    TowerSessionsRedis,
    SessionwareRedis,
}

/// Every app; the in-memory ones first, as the tables index them so.
const APPS: [App; 5] = [
    App::Bare,
    App::TowerSessions,
    App::Sessionware,
    App::TowerSessionsRedis,
    App::SessionwareRedis,
];

impl App {
    fn name(self) -> &'static str {
        match self {
            App::Bare => "bare axum",
            App::TowerSessions => "tower-sessions",
            App::Sessionware => "sessionware",
            App::TowerSessionsRedis => "tower-sessions+Redis",
            App::SessionwareRedis => "sessionware+Redis",
        }
    }

    /// The name `--only` takes.
    fn key(self) -> &'static str {
        match self {
            App::Bare => "bare",
            App::TowerSessions => "tower-sessions",
            App::Sessionware => "sessionware",
            App::TowerSessionsRedis => "tower-sessions-redis",
            App::SessionwareRedis => "sessionware-redis",
        }
    }

    fn uses_redis(self) -> bool {
        matches!(self, App::TowerSessionsRedis | App::SessionwareRedis)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Ignore,
    Read,
    Write,
    New,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario::Ignore,
    Scenario::Read,
    Scenario::Write,
    Scenario::New,
];

impl Scenario {
    fn path(self) -> &'static str {
        match self {
            Scenario::Ignore => "/ignore",
            Scenario::Read => "/read",
            Scenario::Write => "/write",
            Scenario::New => "/new",
        }
    }

    fn sends_cookie(self) -> bool {
        self != Scenario::New
    }

    /// The lowest acceptable sessionware/bare throughput ratio.
    fn target(self) -> f64 {
        match self {
            Scenario::Ignore => 0.97,
            Scenario::Read => 0.92,
            Scenario::Write => 0.85,
            Scenario::New => 0.75,
        }
    }

    /// The lowest acceptable (sessionware + Redis)/(tower-sessions + Redis)
    /// throughput ratio; `/ignore` touches no store and has none.
    fn redis_target(self) -> Option<f64> {
        (self != Scenario::Ignore).then_some(1.5)
    }
}

fn bare_app() -> Router {
    async fn ok() -> &'static str {
        "ok"
    }
    Router::new()
        .route("/ignore", get(ok))
        .route("/read", get(ok))
        .route("/write", get(ok))
        .route("/new", get(ok))
}

/// The four routes behind sessionware's layer over `store`; `idle`, when
/// given, ends sessions after that long without a request.
fn sessionware_app(store: impl sessionware::SessionStore, idle: Option<Duration>) -> Router {
    use sessionware::{Expiry, Session, SessionError, SessionLayer};

    async fn ignore() -> &'static str {
        "ok"
    }
    async fn read(session: Session) -> Result<String, SessionError> {
        let n: u64 = session.get("n")?.unwrap_or(0);
        Ok(n.to_string())
    }
    async fn write(session: Session) -> Result<String, SessionError> {
        let n: u64 = session.get("n")?.unwrap_or(0);
        session.insert("n", n + 1)?;
        Ok(n.to_string())
    }
    async fn new(session: Session) -> Result<&'static str, SessionError> {
        session.insert("n", 0u64)?;
        Ok("ok")
    }
    // One random secret per run, shared by every app this process builds; a
    // deployment reads its secret from its secret store instead.
    static SECRET: std::sync::OnceLock<[u8; 64]> = std::sync::OnceLock::new();
    let secret = SECRET.get_or_init(rand::random);
    let mut layer = SessionLayer::new(store, secret).secure(false);
    if let Some(idle) = idle {
        layer = layer.expiry(Expiry::OnInactivity(idle));
    }
    Router::new()
        .route("/ignore", get(ignore))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/new", get(new))
        .layer(layer)
}

/// The four routes behind tower-sessions' layer over `store`; `idle`, when
/// given, ends sessions after that long without a change (tower-sessions
/// writes a session back only when it changed).
fn tower_sessions_app<S>(store: S, idle: Option<Duration>) -> Router
where
    S: tower_sessions::SessionStore + Clone,
{
    use axum::http::StatusCode;
    use tower_sessions::cookie::time;
    use tower_sessions::{Expiry, Session, SessionManagerLayer};

    fn fail(_: tower_sessions::session::Error) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    async fn ignore() -> &'static str {
        "ok"
    }
    async fn read(session: Session) -> Result<String, StatusCode> {
        let n: u64 = session.get("n").await.map_err(fail)?.unwrap_or(0);
        Ok(n.to_string())
    }
    async fn write(session: Session) -> Result<String, StatusCode> {
        let n: u64 = session.get("n").await.map_err(fail)?.unwrap_or(0);
        session.insert("n", n + 1).await.map_err(fail)?;
        Ok(n.to_string())
    }
    async fn new(session: Session) -> Result<&'static str, StatusCode> {
        session.insert("n", 0u64).await.map_err(fail)?;
        Ok("ok")
    }
    let mut layer = SessionManagerLayer::new(store).with_secure(false);
    if let Some(idle) = idle {
        let seconds = i64::try_from(idle.as_secs()).unwrap_or(i64::MAX);
        layer = layer.with_expiry(Expiry::OnInactivity(time::Duration::seconds(seconds)));
    }
    Router::new()
        .route("/ignore", get(ignore))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/new", get(new))
        .layer(layer)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientKind {
    Raw,
    Hyper,
}

struct Options {
    duration: Duration,
    warmup: Duration,
    connections: usize,
    rounds: usize,
    server_threads: usize,
    client_threads: usize,
    client: ClientKind,
    shared_session: bool,
    /// Load one app on one scenario only (for profiling): no table.
    only: Option<(App, Scenario)>,
    /// Add the two Redis apps.
    redis: bool,
    redis_url: String,
    /// Connections in tower-sessions-redis-store's `fred` pool.
    redis_pool: usize,
    /// How many times a cell disturbed by other programs is measured again.
    retry_disturbed: usize,
}

/// `--name value`, `--name=value`, or the `LOADTEST_NAME` variable.
fn option(args: &[String], name: &str) -> Option<String> {
    let flag = format!("--{name}");
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if *arg == flag {
            return iter.next().cloned();
        }
        if let Some(value) = arg.strip_prefix(&flag).and_then(|v| v.strip_prefix('=')) {
            return Some(value.to_owned());
        }
    }
    let var = format!("LOADTEST_{}", name.to_uppercase().replace('-', "_"));
    std::env::var(var).ok()
}

fn parsed<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    match option(args, name) {
        None => default,
        Some(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("--{name}: cannot parse {text:?}")),
    }
}

impl Options {
    fn from_env() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "--help" || a == "-h") {
            println!(
                "usage: loadtest [--duration SECS] [--warmup SECS] [--connections N] [--rounds N]\n\
                 \x20               [--server-threads N] [--client-threads N] [--client raw|hyper]\n\
                 \x20               [--shared-session] [--only APP/SCENARIO]\n\
                 \x20               [--redis] [--redis-url URL] [--redis-pool N] [--retry-disturbed N]\n\
                 APP: bare, tower-sessions, sessionware, tower-sessions-redis or sessionware-redis;\n\
                 SCENARIO: ignore, read, write or new. --redis needs --features redis-store."
            );
            std::process::exit(0);
        }
        let client = match option(&args, "client").as_deref() {
            None | Some("raw") => ClientKind::Raw,
            Some("hyper") => ClientKind::Hyper,
            Some(other) => panic!("--client: expected raw or hyper, got {other:?}"),
        };
        let flag = |name: &str| {
            let var = format!("LOADTEST_{}", name.to_uppercase().replace('-', "_"));
            args.iter().any(|a| *a == format!("--{name}"))
                || std::env::var(var).is_ok_and(|v| v != "0")
        };
        let shared_session = flag("shared-session");
        let only = option(&args, "only").map(|text| {
            let (app, scenario) = text.split_once('/').unwrap_or((&text, ""));
            let app = APPS
                .into_iter()
                .find(|a| a.key() == app)
                .unwrap_or_else(|| panic!("--only: unknown app {app:?}"));
            let scenario = SCENARIOS
                .into_iter()
                .find(|s| s.path()[1..] == *scenario)
                .unwrap_or_else(|| panic!("--only: unknown scenario {scenario:?}"));
            (app, scenario)
        });
        Self {
            duration: Duration::from_secs_f64(parsed(&args, "duration", 3.0)),
            warmup: Duration::from_secs_f64(parsed(&args, "warmup", 0.5)),
            connections: parsed(&args, "connections", 32usize).max(1),
            rounds: parsed(&args, "rounds", 3usize).max(1),
            server_threads: parsed(&args, "server-threads", 1usize).max(1),
            client_threads: parsed(&args, "client-threads", 1usize).max(1),
            client,
            shared_session,
            redis: flag("redis") || only.is_some_and(|(app, _)| app.uses_redis()),
            only,
            redis_url: option(&args, "redis-url")
                .or_else(|| std::env::var("REDIS_URL").ok())
                .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned()),
            redis_pool: parsed(&args, "redis-pool", 1usize).max(1),
            retry_disturbed: parsed(&args, "retry-disturbed", 0usize),
        }
    }

    /// How long a session may sit idle: long enough that no session used in
    /// one cell is refreshed by a read during it, short enough that what a
    /// killed run leaves in Redis goes away soon.
    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(600).max((self.warmup + self.duration) * 20)
    }
}

/// What one response told us.
struct Reply {
    status: u16,
    /// The `name=value` pair of the first `Set-Cookie`, when asked for.
    cookie: Option<String>,
}

/// One keep-alive HTTP/1.1 connection.
enum Conn {
    /// Pre-built request bytes out, `httparse` on the way back: cheap.
    Raw { stream: TcpStream, buf: Vec<u8> },
    Hyper {
        sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    },
}

/// One request, ready to send many times.
struct Prepared {
    raw: Vec<u8>,
    path: &'static str,
    cookie: Option<String>,
}

impl Prepared {
    fn new(addr: SocketAddr, path: &'static str, cookie: Option<String>) -> Self {
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
    async fn open(addr: SocketAddr, kind: ClientKind) -> Result<Self, String> {
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
struct Failures {
    count: u64,
    samples: Vec<String>,
}

impl Failures {
    fn add(&mut self, message: String) {
        self.count += 1;
        if self.samples.len() < KEPT_FAILURES {
            self.samples.push(message);
        }
    }

    fn merge(&mut self, other: Failures) {
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
async fn fetch_cookie(
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
async fn drive(
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

/// CPU time (user + system) of this process's threads whose name starts with `prefix`.
fn thread_cpu(prefix: &str) -> Duration {
    let mut ticks = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        // After the name: state, ppid, ... with utime and stime 12th and 13th.
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        for index in [11, 12] {
            ticks += fields.get(index).and_then(|f| f.parse().ok()).unwrap_or(0);
        }
    }
    // Linux reports these in USER_HZ, 100 per second on every common platform.
    Duration::from_millis(ticks * 10)
}

/// CPU time used by the whole machine (every core, idle and I/O wait excluded)
/// and by this process, from `/proc/stat` and `/proc/self/stat`.
fn machine_and_own_cpu() -> (Duration, Duration) {
    let ticks = |fields: &[&str], indexes: &[usize]| -> u64 {
        indexes
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum()
    };
    let machine = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let machine: Vec<&str> = machine
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // cpu user nice system idle iowait irq softirq steal
    let machine = ticks(&machine, &[1, 2, 3, 6, 7, 8]);
    let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let own = own.rsplit_once(')').map_or(0, |(_, rest)| {
        ticks(&rest.split_whitespace().collect::<Vec<_>>(), &[11, 12])
    });
    (
        Duration::from_millis(machine * 10),
        Duration::from_millis(own * 10),
    )
}

/// The result of one (round, scenario, app) cell.
struct Cell {
    requests_per_s: f64,
    /// Server CPU time per successful request.
    server_cpu_us: f64,
    /// Busy cores, server and client threads.
    server_busy: f64,
    client_busy: f64,
    /// Busy cores outside this process: other programs disturbing the run
    /// (a local Redis server not included).
    foreign_busy: f64,
    /// Busy cores of the Redis server (`INFO cpu`), NaN without `--redis`.
    redis_busy: f64,
    failures: Failures,
}

async fn run_cell(
    addr: SocketAddr,
    scenario: Scenario,
    opts: &Options,
    probe: Option<&redis_apps::Probe>,
) -> Cell {
    let mut failures = Failures::default();
    let mut conns = Vec::with_capacity(opts.connections);
    for _ in 0..opts.connections {
        match Conn::open(addr, opts.client).await {
            Ok(conn) => conns.push(conn),
            Err(err) => failures.add(err),
        }
    }
    let mut requests = Vec::with_capacity(conns.len());
    let mut shared = None;
    for conn in &mut conns {
        let cookie = if !scenario.sends_cookie() {
            None
        } else if opts.shared_session && shared.is_some() {
            shared.clone()
        } else {
            match fetch_cookie(conn, addr, &mut failures).await {
                Ok(cookie) => Some(cookie),
                Err(err) => {
                    failures.add(format!("cookie setup: {err}"));
                    None
                }
            }
        };
        if opts.shared_session {
            shared.clone_from(&cookie);
        }
        requests.push(Prepared::new(addr, scenario.path(), cookie));
    }

    let phase = Arc::new(AtomicU8::new(WARMUP));
    let tasks: Vec<_> = conns
        .into_iter()
        .zip(requests)
        .map(|(conn, request)| {
            tokio::spawn(drive(conn, addr, opts.client, request, Arc::clone(&phase)))
        })
        .collect();
    tokio::time::sleep(opts.warmup).await;
    let (server_before, client_before) = (thread_cpu(SERVER_THREAD), thread_cpu(CLIENT_THREAD));
    let (machine_before, own_before) = machine_and_own_cpu();
    let redis_before = redis_cpu(probe).await;
    let started = Instant::now();
    phase.store(MEASURE, Ordering::Relaxed);
    tokio::time::sleep(opts.duration).await;
    phase.store(STOP, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = (thread_cpu(SERVER_THREAD) - server_before).as_secs_f64();
    let client_cpu = (thread_cpu(CLIENT_THREAD) - client_before).as_secs_f64();
    let (machine_after, own_after) = machine_and_own_cpu();
    let redis_after = redis_cpu(probe).await;
    let redis = match (redis_before, redis_after) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let mut foreign = (machine_after.saturating_sub(machine_before))
        .saturating_sub(own_after.saturating_sub(own_before));
    if let Some(redis) = redis.filter(|_| probe.is_some_and(|p| p.local())) {
        foreign = foreign.saturating_sub(redis);
    }
    let foreign_cpu = foreign.as_secs_f64();

    let mut ok = 0;
    for task in tasks {
        match task.await {
            Ok((count, task_failures)) => {
                ok += count;
                failures.merge(task_failures);
            }
            Err(err) => failures.add(format!("client task panicked: {err}")),
        }
    }
    Cell {
        requests_per_s: ok as f64 / elapsed,
        server_cpu_us: if ok == 0 {
            f64::NAN
        } else {
            server_cpu * 1e6 / ok as f64
        },
        server_busy: server_cpu / elapsed,
        client_busy: client_cpu / elapsed,
        foreign_busy: foreign_cpu / elapsed,
        redis_busy: redis.map_or(f64::NAN, |cpu| cpu.as_secs_f64() / elapsed),
        failures,
    }
}

/// The Redis server's CPU time so far, when there is a probe and it answers.
async fn redis_cpu(probe: Option<&redis_apps::Probe>) -> Option<Duration> {
    match probe {
        Some(probe) => probe.cpu().await,
        None => None,
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn runtime(threads: usize, name: &'static str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Binds an ephemeral port on 127.0.0.1 and serves `app` there.
fn serve(rt: &tokio::runtime::Runtime, app: Router) -> SocketAddr {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("server failed");
        });
        addr
    })
}

fn main() -> ExitCode {
    let opts = Options::from_env();
    let apps: Vec<App> = APPS
        .into_iter()
        .filter(|app| opts.redis || !app.uses_redis())
        .collect();
    let server_rt = runtime(opts.server_threads, SERVER_THREAD);
    let client_rt = runtime(opts.client_threads, CLIENT_THREAD);

    // The Redis stores are built on the server runtime, so that their
    // connection tasks run (and are counted) on the server threads; the probe
    // that reads the Redis server's CPU time runs on the client runtime.
    let redis = match opts
        .redis
        .then(|| redis_apps::Redis::new(&opts))
        .transpose()
    {
        Ok(redis) => redis,
        Err(err) => {
            eprintln!("loadtest: {err}");
            return ExitCode::from(2);
        }
    };
    let probe = match redis
        .as_ref()
        .map(|r| client_rt.block_on(r.probe()))
        .transpose()
    {
        Ok(probe) => probe,
        Err(err) => {
            eprintln!("loadtest: {err}");
            return ExitCode::from(2);
        }
    };
    let mut addrs = Vec::with_capacity(apps.len());
    for &app in &apps {
        let router = match (app, &redis) {
            (App::Bare, _) => bare_app(),
            (App::TowerSessions, _) => {
                tower_sessions_app(tower_sessions::MemoryStore::default(), None)
            }
            (App::Sessionware, _) => sessionware_app(sessionware::MemoryStore::new(), None),
            (App::TowerSessionsRedis | App::SessionwareRedis, Some(redis)) => {
                match server_rt.block_on(redis.router(app, opts.idle_timeout())) {
                    Ok(router) => router,
                    Err(err) => {
                        eprintln!("loadtest: {}: {err}", app.name());
                        return ExitCode::from(2);
                    }
                }
            }
            (App::TowerSessionsRedis | App::SessionwareRedis, None) => {
                unreachable!("Redis apps are only listed with --redis")
            }
        };
        addrs.push(serve(&server_rt, router));
    }

    let cells = SCENARIOS.len() * apps.len() * opts.rounds;
    eprintln!(
        "loadtest: {cells} cells of {:.1} s + {:.1} s warm-up, {} connections, \
         {} server / {} client threads, {} client{}; about {:.0} s",
        opts.duration.as_secs_f64(),
        opts.warmup.as_secs_f64(),
        opts.connections,
        opts.server_threads,
        opts.client_threads,
        if opts.client == ClientKind::Raw {
            "raw"
        } else {
            "hyper"
        },
        if opts.shared_session {
            ", one shared session"
        } else {
            ""
        },
        cells as f64 * (opts.duration + opts.warmup).as_secs_f64(),
    );
    if opts.redis {
        eprintln!(
            "loadtest: Redis at {}; tower-sessions-redis-store on a fred pool of {} \
             connection(s), sessionware RedisStore on 1 multiplexed connection",
            redacted(&opts.redis_url),
            opts.redis_pool,
        );
    }

    let failed = if let Some((app, scenario)) = opts.only {
        let a = apps.iter().position(|&x| x == app).expect("known app");
        let mut failed = false;
        for round in 0..opts.rounds {
            let cell = client_rt.block_on(run_cell(addrs[a], scenario, &opts, probe.as_ref()));
            print_cell(round, scenario, app, &cell);
            for sample in &cell.failures.samples {
                println!("FAILURE: {sample}");
            }
            failed |= cell.failures.count > 0;
        }
        failed
    } else {
        // results[scenario][app] = one Cell per round.
        let mut results: Vec<Vec<Vec<Cell>>> = SCENARIOS
            .iter()
            .map(|_| apps.iter().map(|_| Vec::new()).collect())
            .collect();
        for round in 0..opts.rounds {
            for (s, &scenario) in SCENARIOS.iter().enumerate() {
                for offset in 0..apps.len() {
                    let a = (round + s + offset) % apps.len();
                    let mut cell =
                        client_rt.block_on(run_cell(addrs[a], scenario, &opts, probe.as_ref()));
                    print_cell(round, scenario, apps[a], &cell);
                    // On a shared machine, measure a disturbed cell again and
                    // keep the least disturbed attempt (and every failure).
                    for _ in 0..opts.retry_disturbed {
                        if cell.foreign_busy <= DISTURBED {
                            break;
                        }
                        let again =
                            client_rt.block_on(run_cell(addrs[a], scenario, &opts, probe.as_ref()));
                        print_cell(round, scenario, apps[a], &again);
                        let (mut kept, dropped) = if again.foreign_busy < cell.foreign_busy {
                            (again, cell)
                        } else {
                            (cell, again)
                        };
                        kept.failures.merge(dropped.failures);
                        cell = kept;
                    }
                    results[s][a].push(cell);
                }
            }
        }
        report(&opts, &apps, &mut results)
    };
    if let (Some(redis), Some(probe)) = (&redis, &probe) {
        match client_rt.block_on(redis.cleanup(probe)) {
            Ok(summary) => eprintln!("loadtest: Redis clean-up: {summary}"),
            Err(err) => eprintln!("loadtest: Redis clean-up failed: {err}"),
        }
    }
    server_rt.shutdown_timeout(Duration::from_secs(1));
    client_rt.shutdown_timeout(Duration::from_secs(1));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The URL without its password, for printing.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// One progress line on standard error.
fn print_cell(round: usize, scenario: Scenario, app: App, cell: &Cell) {
    eprintln!(
        "round {} {:8} {:20} {:9.0} req/s  {:6.2} µs server CPU/req  \
         busy {:.2} server {:.2} client {:.2} other{}  {} failures",
        round + 1,
        scenario.path(),
        app.name(),
        cell.requests_per_s,
        cell.server_cpu_us,
        cell.server_busy,
        cell.client_busy,
        cell.foreign_busy,
        if cell.redis_busy.is_nan() {
            String::new()
        } else {
            format!(" {:.2} Redis", cell.redis_busy)
        },
        cell.failures.count,
    );
}

/// Prints the tables; returns whether any request failed.
fn report(opts: &Options, apps: &[App], results: &mut [Vec<Vec<Cell>>]) -> bool {
    let med = |cells: &[Cell], f: fn(&Cell) -> f64| {
        let mut values: Vec<f64> = cells.iter().map(f).collect();
        median(&mut values)
    };
    println!(
        "\n## Requests per second, median of {} rounds \
         ({} connections, {:.1} s per cell, {} server / {} client threads)\n",
        opts.rounds,
        opts.connections,
        opts.duration.as_secs_f64(),
        opts.server_threads,
        opts.client_threads,
    );
    println!(
        "| scenario | bare axum | tower-sessions | sessionware | tower-sessions / bare | sessionware / bare | target | |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut missed = Vec::new();
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        let rps: Vec<f64> = results[s]
            .iter()
            .map(|cells| med(cells, |c| c.requests_per_s))
            .collect();
        let (ts, sw) = (rps[1] / rps[0], rps[2] / rps[0]);
        let met = sw >= scenario.target();
        if !met {
            missed.push(scenario.path());
        }
        println!(
            "| `{}` | {:.0} | {:.0} | {:.0} | {ts:.3} | {sw:.3} | ≥ {:.2} | {} |",
            scenario.path(),
            rps[0],
            rps[1],
            rps[2],
            scenario.target(),
            if met { "met" } else { "**missed**" },
        );
    }

    println!("\n## Server CPU time per request, µs (median), and cost over bare axum\n");
    println!(
        "| scenario | bare axum | tower-sessions | sessionware | tower-sessions − bare | sessionware − bare |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        let cpu: Vec<f64> = results[s]
            .iter()
            .map(|cells| med(cells, |c| c.server_cpu_us))
            .collect();
        println!(
            "| `{}` | {:.2} | {:.2} | {:.2} | {:+.2} | {:+.2} |",
            scenario.path(),
            cpu[0],
            cpu[1],
            cpu[2],
            cpu[1] - cpu[0],
            cpu[2] - cpu[0],
        );
    }

    println!("\n## Busy cores (median): server threads / client threads\n");
    println!("| scenario | bare axum | tower-sessions | sessionware |");
    println!("| --- | ---: | ---: | ---: |");
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        let busy: Vec<String> = results[s][..3]
            .iter()
            .map(|cells| {
                format!(
                    "{:.2} / {:.2}",
                    med(cells, |c| c.server_busy),
                    med(cells, |c| c.client_busy)
                )
            })
            .collect();
        println!("| `{}` | {} |", scenario.path(), busy.join(" | "));
    }

    if apps.len() == APPS.len() {
        redis_report(opts, results);
    }

    let foreign: Vec<f64> = results
        .iter()
        .flatten()
        .flatten()
        .map(|c| c.foreign_busy)
        .collect();
    let worst = foreign.iter().copied().fold(0.0, f64::max);
    let mean = foreign.iter().sum::<f64>() / foreign.len() as f64;
    println!(
        "\nOther processes kept {mean:.2} cores busy on average, {worst:.2} at worst (of {} cores).",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    if worst > DISTURBED {
        println!(
            "WARNING: other programs competed for the CPU during this run; \
             rerun on a quiet machine before trusting small differences."
        );
    }

    let mut total = 0;
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        for (a, &app) in apps.iter().enumerate() {
            let mut all = Failures::default();
            for cell in results[s][a].iter_mut() {
                all.merge(std::mem::take(&mut cell.failures));
            }
            if all.count > 0 {
                total += all.count;
                println!(
                    "\nFAILURES: {} {}: {} failed requests, e.g.:",
                    app.name(),
                    scenario.path(),
                    all.count
                );
                for sample in &all.samples {
                    println!("  - {sample}");
                }
            }
        }
    }
    println!();
    if total > 0 {
        println!(
            "!!! RUN FAILED: {total} requests did not get a 200; the numbers above are not valid !!!"
        );
    } else {
        println!("All responses were 200.");
    }
    if !missed.is_empty() {
        println!("sessionware missed its target for: {}", missed.join(", "));
    }
    if apps.len() == APPS.len() {
        let missed: Vec<&str> = SCENARIOS
            .iter()
            .enumerate()
            .filter(|&(s, scenario)| {
                let med = |cells: &[Cell]| {
                    median(&mut cells.iter().map(|c| c.requests_per_s).collect::<Vec<_>>())
                };
                scenario
                    .redis_target()
                    .is_some_and(|target| med(&results[s][4]) / med(&results[s][3]) < target)
            })
            .map(|(_, scenario)| scenario.path())
            .collect();
        if !missed.is_empty() {
            println!(
                "sessionware+Redis missed 1.5x tower-sessions+Redis for: {}",
                missed.join(", ")
            );
        }
    }
    total > 0
}

/// The Redis tables: bare axum (index 0) against tower-sessions + Redis (3)
/// and sessionware + Redis (4).
fn redis_report(opts: &Options, results: &[Vec<Vec<Cell>>]) {
    let med = |cells: &[Cell], f: fn(&Cell) -> f64| {
        let mut values: Vec<f64> = cells.iter().map(f).collect();
        median(&mut values)
    };
    println!(
        "\n## Redis: requests per second, median of {} rounds \
         ({} connections, {:.1} s per cell, {} server / {} client threads)\n",
        opts.rounds,
        opts.connections,
        opts.duration.as_secs_f64(),
        opts.server_threads,
        opts.client_threads,
    );
    println!(
        "tower-sessions 0.15 + tower-sessions-redis-store 0.16 on a fred pool of {} \
         connection(s); sessionware + RedisStore on 1 multiplexed connection \
         (ConnectionManager); Redis at {}.\n",
        opts.redis_pool,
        redacted(&opts.redis_url),
    );
    println!(
        "| scenario | bare axum | tower-sessions + Redis | sessionware + Redis \
         | tower-sessions / bare | sessionware / bare | sessionware / tower-sessions | target | |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        let rps: Vec<f64> = [0, 3, 4]
            .iter()
            .map(|&a| med(&results[s][a], |c| c.requests_per_s))
            .collect();
        let ratio = rps[2] / rps[1];
        let (target, verdict) = match scenario.redis_target() {
            Some(target) if ratio >= target => (format!("≥ {target:.2}"), "met"),
            Some(target) => (format!("≥ {target:.2}"), "**missed**"),
            None => ("—".to_owned(), ""),
        };
        println!(
            "| `{}` | {:.0} | {:.0} | {:.0} | {:.3} | {:.3} | {ratio:.2} | {target} | {verdict} |",
            scenario.path(),
            rps[0],
            rps[1],
            rps[2],
            rps[1] / rps[0],
            rps[2] / rps[0],
        );
    }

    println!(
        "\n## Redis: server CPU time per request, µs (median), and busy cores \
         (median): server threads / client threads / Redis server\n"
    );
    println!(
        "| scenario | bare axum µs | tower-sessions + Redis µs | sessionware + Redis µs \
         | bare axum busy | tower-sessions + Redis busy | sessionware + Redis busy |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        let cpu: Vec<String> = [0, 3, 4]
            .iter()
            .map(|&a| format!("{:.2}", med(&results[s][a], |c| c.server_cpu_us)))
            .collect();
        let busy: Vec<String> = [0, 3, 4]
            .iter()
            .map(|&a| {
                let cells = &results[s][a];
                format!(
                    "{:.2} / {:.2} / {:.2}",
                    med(cells, |c| c.server_busy),
                    med(cells, |c| c.client_busy),
                    med(cells, |c| c.redis_busy),
                )
            })
            .collect();
        println!(
            "| `{}` | {} | {} |",
            scenario.path(),
            cpu.join(" | "),
            busy.join(" | ")
        );
    }

    // Redis work while no Redis app was loaded comes from other clients.
    let idle_redis = results
        .iter()
        .flat_map(|apps| apps[..3].iter().flatten())
        .map(|c| c.redis_busy)
        .filter(|busy| busy.is_finite())
        .fold(0.0, f64::max);
    println!(
        "\nThe Redis server was busy {idle_redis:.2} cores at most while only in-memory apps \
         were loaded (other clients of the same Redis)."
    );
    if idle_redis > DISTURBED {
        println!(
            "WARNING: other clients loaded the same Redis during this run; \
             the Redis columns are noisy."
        );
    }
}

/// The Redis apps, their clean-up, and the probe of the Redis server's CPU.
#[cfg(feature = "redis-store")]
mod redis_apps {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use axum::Router;
    use tower_sessions::session::{Id, Record};
    use tower_sessions::session_store;
    use tower_sessions_core_014 as core014;
    use tower_sessions_redis_store::fred::prelude::{ClientLike as _, Config, Pool};

    use crate::{App, Options};

    /// What the Redis apps share: where Redis is, and what they left in it.
    pub(crate) struct Redis {
        url: String,
        /// sessionware's key prefix, unique to this run.
        prefix: String,
        pool_size: usize,
        /// The ids of tower-sessions' records created in this run.
        created: Arc<Mutex<Vec<i128>>>,
    }

    impl Redis {
        pub(crate) fn new(opts: &Options) -> Result<Self, String> {
            let millis = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            Ok(Self {
                url: opts.redis_url.clone(),
                prefix: format!("loadtest-{}-{millis}:sessionware:", std::process::id()),
                pool_size: opts.redis_pool,
                created: Arc::default(),
            })
        }

        /// The app `app` over Redis; call it on the server runtime.
        pub(crate) async fn router(&self, app: App, idle: Duration) -> Result<Router, String> {
            match app {
                App::SessionwareRedis => {
                    let store = sessionware::RedisStore::connect(&self.url)
                        .await
                        .map_err(|e| e.to_string())?
                        .key_prefix(self.prefix.as_str());
                    Ok(crate::sessionware_app(store, Some(idle)))
                }
                App::TowerSessionsRedis => {
                    let config = Config::from_url(&self.url).map_err(|e| e.to_string())?;
                    let pool = Pool::new(config, None, None, None, self.pool_size)
                        .map_err(|e| e.to_string())?;
                    pool.init().await.map_err(|e| e.to_string())?;
                    let store = Bridge {
                        inner: tower_sessions_redis_store::RedisStore::new(pool),
                        created: Arc::clone(&self.created),
                    };
                    Ok(crate::tower_sessions_app(store, Some(idle)))
                }
                other => Err(format!("{} does not use Redis", other.name())),
            }
        }

        /// A connection of its own for `INFO` and the clean-up; call it on the
        /// client runtime.
        pub(crate) async fn probe(&self) -> Result<Probe, String> {
            let client = redis::Client::open(self.url.as_str()).map_err(|e| e.to_string())?;
            let connection = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| format!("cannot connect to Redis: {e}"))?;
            let host = client.get_connection_info().addr.to_string();
            let local = ["127.", "localhost", "[::1]", "::1", "unix:"]
                .iter()
                .any(|p| host.starts_with(p))
                || host.starts_with('/');
            Ok(Probe { connection, local })
        }

        /// Deletes what this run stored: sessionware's keys under the run's
        /// prefix, and tower-sessions' records by the ids created.
        pub(crate) async fn cleanup(&self, probe: &Probe) -> Result<String, String> {
            let mut connection = probe.connection.clone();
            let pattern = format!("{}*", self.prefix);
            let mut cursor = 0u64;
            let mut sessionware = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut connection)
                    .await
                    .map_err(|e| e.to_string())?;
                if !keys.is_empty() {
                    sessionware += redis::cmd("UNLINK")
                        .arg(&keys)
                        .query_async::<u64>(&mut connection)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
            let ids =
                std::mem::take(&mut *self.created.lock().unwrap_or_else(PoisonError::into_inner));
            let mut tower_sessions = 0u64;
            for chunk in ids.chunks(1000) {
                let keys: Vec<String> = chunk.iter().map(|&id| Id(id).to_string()).collect();
                tower_sessions += redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async::<u64>(&mut connection)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(format!(
                "deleted {sessionware} sessionware keys ({pattern}) and \
                 {tower_sessions} of {} tower-sessions records",
                ids.len()
            ))
        }
    }

    /// Reads the Redis server's CPU time.
    pub(crate) struct Probe {
        connection: redis::aio::MultiplexedConnection,
        local: bool,
    }

    impl Probe {
        /// The Redis server's CPU time (user + system, `INFO cpu`) so far.
        pub(crate) async fn cpu(&self) -> Option<Duration> {
            let mut connection = self.connection.clone();
            let info: String = redis::cmd("INFO")
                .arg("cpu")
                .query_async(&mut connection)
                .await
                .ok()?;
            let mut seconds = 0.0;
            for line in info.lines() {
                if let Some(value) = line
                    .strip_prefix("used_cpu_sys:")
                    .or_else(|| line.strip_prefix("used_cpu_user:"))
                {
                    seconds += value.trim().parse::<f64>().ok()?;
                }
            }
            Some(Duration::from_secs_f64(seconds))
        }

        /// Whether the server runs on this machine (its CPU is then not
        /// counted as other programs' load).
        pub(crate) fn local(&self) -> bool {
            self.local
        }
    }

    type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = session_store::Result<T>> + Send + 'a>>;

    /// `tower-sessions-redis-store` 0.16 implements tower-sessions-core 0.14's
    /// `SessionStore`; this implements 0.15's (the same trait, the same
    /// record) by converting the record, and notes every id created for the
    /// clean-up. The methods are what `#[async_trait]` expands to.
    #[derive(Debug, Clone)]
    struct Bridge {
        inner: tower_sessions_redis_store::RedisStore<Pool>,
        created: Arc<Mutex<Vec<i128>>>,
    }

    fn to_014(record: &Record) -> core014::session::Record {
        core014::session::Record {
            id: core014::session::Id(record.id.0),
            data: record.data.clone(),
            expiry_date: record.expiry_date,
        }
    }

    fn from_014(error: core014::session_store::Error) -> session_store::Error {
        use core014::session_store::Error as Old;
        match error {
            Old::Encode(message) => session_store::Error::Encode(message),
            Old::Decode(message) => session_store::Error::Decode(message),
            Old::Backend(message) => session_store::Error::Backend(message),
        }
    }

    impl tower_sessions::SessionStore for Bridge {
        fn create<'a, 'b, 'f>(&'a self, record: &'b mut Record) -> StoreFuture<'f, ()>
        where
            'a: 'f,
            'b: 'f,
            Self: 'f,
        {
            Box::pin(async move {
                let mut old = to_014(record);
                core014::SessionStore::create(&self.inner, &mut old)
                    .await
                    .map_err(from_014)?;
                record.id = Id(old.id.0);
                self.created
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(old.id.0);
                Ok(())
            })
        }

        fn save<'a, 'b, 'f>(&'a self, record: &'b Record) -> StoreFuture<'f, ()>
        where
            'a: 'f,
            'b: 'f,
            Self: 'f,
        {
            Box::pin(async move {
                core014::SessionStore::save(&self.inner, &to_014(record))
                    .await
                    .map_err(from_014)
            })
        }

        fn load<'a, 'b, 'f>(&'a self, id: &'b Id) -> StoreFuture<'f, Option<Record>>
        where
            'a: 'f,
            'b: 'f,
            Self: 'f,
        {
            Box::pin(async move {
                let old = core014::SessionStore::load(&self.inner, &core014::session::Id(id.0))
                    .await
                    .map_err(from_014)?;
                Ok(old.map(|old| Record {
                    id: Id(old.id.0),
                    data: old.data,
                    expiry_date: old.expiry_date,
                }))
            })
        }

        fn delete<'a, 'b, 'f>(&'a self, id: &'b Id) -> StoreFuture<'f, ()>
        where
            'a: 'f,
            'b: 'f,
            Self: 'f,
        {
            Box::pin(async move {
                core014::SessionStore::delete(&self.inner, &core014::session::Id(id.0))
                    .await
                    .map_err(from_014)
            })
        }
    }
}

/// Without the `redis-store` feature there are no Redis apps: `--redis` is refused.
#[cfg(not(feature = "redis-store"))]
mod redis_apps {
    use std::time::Duration;

    use axum::Router;

    use crate::{App, Options};

    /// Never made: [`Redis::new`] refuses.
    pub(crate) enum Redis {}

    impl Redis {
        pub(crate) fn new(_: &Options) -> Result<Self, String> {
            Err("--redis needs the redis-store feature: \
                 cargo run --release --example loadtest --features redis-store -- --redis"
                .to_owned())
        }

        pub(crate) async fn router(&self, _: App, _: Duration) -> Result<Router, String> {
            match *self {}
        }

        pub(crate) async fn probe(&self) -> Result<Probe, String> {
            match *self {}
        }

        pub(crate) async fn cleanup(&self, _: &Probe) -> Result<String, String> {
            match *self {}
        }
    }

    /// Never made.
    pub(crate) enum Probe {}

    impl Probe {
        pub(crate) async fn cpu(&self) -> Option<Duration> {
            match *self {}
        }

        pub(crate) fn local(&self) -> bool {
            match *self {}
        }
    }
}
