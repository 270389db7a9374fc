//! Shared by both test binaries (`tests/http/` and `tests/stores/`): a
//! fault-injecting, counting store and helpers that send real requests
//! through a `Router`.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request, StatusCode};
use sessionware::store::{Record, SaveOutcome, SessionKey};
use sessionware::{Error, MemoryStore, SessionStore, UserIndex};
use tower::ServiceExt as _;

pub mod serve;

/// A 64-byte test secret: test-only; never use a fixed secret in an
/// application (generate one with `openssl rand -hex 64`).
pub fn secret() -> Vec<u8> {
    const HEX: &str = "a76198f6fcc5fc0a269e1d7b79b01498c962da0ed5ca9368744cd8f310fde139d2f308879fd43015e47bd32d8f8c3e27ba8ec8d4cc41068daa8260604c5ff2a7";
    (0..HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&HEX[i..i + 2], 16).unwrap())
        .collect()
}

/// Counters and switches shared between a test and its [`FaultyStore`].
#[derive(Debug, Default)]
pub struct Faults {
    pub loads: AtomicU64,
    pub creates: AtomicU64,
    pub saves: AtomicU64,
    pub deletes: AtomicU64,
    pub fail_load: AtomicBool,
    pub fail_write: AtomicBool,
    pub hang: AtomicBool,
}

impl Faults {
    pub fn lookups(&self) -> u64 {
        self.loads.load(Ordering::SeqCst)
    }
    pub fn writes(&self) -> u64 {
        self.creates.load(Ordering::SeqCst)
            + self.saves.load(Ordering::SeqCst)
            + self.deletes.load(Ordering::SeqCst)
    }
    pub fn set(flag: &AtomicBool, on: bool) {
        flag.store(on, Ordering::SeqCst);
    }
}

/// A `MemoryStore` that counts calls and fails or hangs on demand.
#[derive(Debug, Clone, Default)]
pub struct FaultyStore {
    pub inner: MemoryStore,
    pub faults: Arc<Faults>,
}

impl FaultyStore {
    async fn gate(&self, write: bool) -> Result<(), Error> {
        if self.faults.hang.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        let flag = if write {
            &self.faults.fail_write
        } else {
            &self.faults.fail_load
        };
        if flag.load(Ordering::SeqCst) {
            return Err(Error::store(std::io::Error::other(
                "injected: connection refused",
            )));
        }
        Ok(())
    }
}

impl SessionStore for FaultyStore {
    async fn health(&self) -> Result<(), Error> {
        self.gate(false).await?;
        self.inner.health().await
    }
    async fn create(&self, key: &SessionKey, record: &Record) -> Result<bool, Error> {
        self.faults.creates.fetch_add(1, Ordering::SeqCst);
        self.gate(true).await?;
        self.inner.create(key, record).await
    }
    async fn load(&self, key: &SessionKey) -> Result<Option<Record>, Error> {
        self.faults.loads.fetch_add(1, Ordering::SeqCst);
        self.gate(false).await?;
        self.inner.load(key).await
    }
    async fn save(
        &self,
        key: &SessionKey,
        record: &Record,
        expected: u64,
    ) -> Result<SaveOutcome, Error> {
        self.faults.saves.fetch_add(1, Ordering::SeqCst);
        self.gate(true).await?;
        self.inner.save(key, record, expected).await
    }
    async fn delete(&self, key: &SessionKey) -> Result<bool, Error> {
        self.faults.deletes.fetch_add(1, Ordering::SeqCst);
        self.gate(true).await?;
        self.inner.delete(key).await
    }
    async fn delete_expired(&self) -> Result<u64, Error> {
        self.inner.delete_expired().await
    }
    fn user_index(&self) -> Option<&dyn sessionware::store::ErasedUserIndex> {
        Some(self)
    }
}

/// The wrapped store's index, forwarded: a wrapper must not hide it.
impl UserIndex for FaultyStore {
    async fn keys_of(&self, user: &str) -> Result<Vec<SessionKey>, Error> {
        self.gate(false).await?;
        self.inner.keys_of(user).await
    }
    async fn forget(&self, user: &str, stale: &[SessionKey]) -> Result<(), Error> {
        self.gate(true).await?;
        self.inner.forget(user, stale).await
    }
}

/// What came back from one request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The one `Set-Cookie` header, if any (panics if there are several).
    pub fn set_cookie(&self) -> Option<String> {
        let all = self.set_cookies();
        assert!(all.len() <= 1, "more than one Set-Cookie: {all:?}");
        all.into_iter().next()
    }

    /// The `name=value` pair of the `Set-Cookie`, ready to send back.
    pub fn cookie_pair(&self) -> String {
        let header = self.set_cookie().expect("a Set-Cookie header");
        header.split(';').next().unwrap().to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Sends `GET path` with the given `Cookie` header lines.
pub async fn send_with(app: &Router, path: &str, cookies: &[&str]) -> Reply {
    let mut request = Request::builder().uri(path);
    for line in cookies {
        request = request.header("cookie", *line);
    }
    send_request(app, request.body(Body::empty()).unwrap()).await
}

/// Sends `GET path` with the given headers.
pub async fn send_headers(app: &Router, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder().uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send_request(app, request.body(Body::empty()).unwrap()).await
}

/// The events a layer reported, shared with its hook.
pub type EventLog = Arc<std::sync::Mutex<Vec<sessionware::SessionEvent>>>;

/// `layer` with a hook that records every event.
pub fn recorded(layer: sessionware::SessionLayer) -> (sessionware::SessionLayer, EventLog) {
    let log = EventLog::default();
    let sink = log.clone();
    let layer = layer.on_event(move |event| sink.lock().unwrap().push(event.clone()));
    (layer, log)
}

/// The events recorded since the last call.
pub fn take(log: &EventLog) -> Vec<sessionware::SessionEvent> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// A `tracing` writer into a shared buffer, to read what was logged.
#[derive(Clone, Default)]
pub struct Captured(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends `GET path`, with one `Cookie` header if given.
pub async fn send(app: &Router, path: &str, cookie: Option<&str>) -> Reply {
    send_with(app, path, cookie.as_slice()).await
}

pub async fn send_request(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Routes that exercise every `Session` method; the body says what happened.
pub fn routes() -> Router {
    use axum::routing::get;
    use sessionware::{Expiry, Session};

    Router::new()
        .route("/ignore", get(|| async { "ignored" }))
        .route(
            "/get",
            get(|s: Session| async move { format!("{:?}", s.get::<u64>("n").unwrap()) }),
        )
        .route(
            "/insert",
            get(|s: Session| async move {
                let n = s.get::<u64>("n").unwrap().unwrap_or(0) + 1;
                s.insert("n", n).unwrap();
                n.to_string()
            }),
        )
        .route(
            "/user",
            get(|s: Session| async move { format!("{:?}", s.get::<String>("user").unwrap()) }),
        )
        .route(
            "/login/{name}",
            get(
                |s: Session, axum::extract::Path(name): axum::extract::Path<String>| async move {
                    s.clear();
                    s.insert("user", name).unwrap();
                    s.cycle_id();
                    "logged in"
                },
            ),
        )
        .route(
            "/remove",
            get(|s: Session| async move { s.remove("n").to_string() }),
        )
        .route(
            "/take",
            get(|s: Session| async move { format!("{:?}", s.take::<u64>("n").unwrap()) }),
        )
        .route("/clear", get(|s: Session| async move { s.clear() }))
        .route(
            "/is_empty",
            get(|s: Session| async move { s.is_empty().to_string() }),
        )
        .route("/cycle", get(|s: Session| async move { s.cycle_id() }))
        .route("/destroy", get(|s: Session| async move { s.destroy() }))
        .route("/a/b/destroy", get(|s: Session| async move { s.destroy() }))
        .route(
            "/remember",
            get(|s: Session| async move {
                s.set_expiry(Expiry::OnInactivity(Duration::from_secs(30 * 86_400)));
                format!("{:?}", s.expiry())
            }),
        )
        .route(
            "/expiry",
            get(|s: Session| async move { format!("{:?}", s.expiry()) }),
        )
        .route(
            "/degraded",
            get(|s: Session| async move { s.is_degraded().to_string() }),
        )
        .route(
            "/fail",
            get(|s: Session| async move {
                s.insert("n", 1000u64).unwrap();
                StatusCode::SERVICE_UNAVAILABLE
            }),
        )
}

/// The store key of a session cookie pair `id=<value>.<tag>`: the SHA-256
/// of its random value, as the layer computes it.
pub fn key_of(pair: &str) -> SessionKey {
    use base64::Engine as _;
    use sha2::Digest as _;
    let value = pair.split_once('=').unwrap().1;
    let random = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&value[..43])
        .unwrap();
    SessionKey::from_bytes(sha2::Sha256::digest(random).into())
}

/// A record of `user` holding `{"n": 5}` as an earlier version wrote it
/// (format 1: the format byte, then one JSON object), living an hour.
pub fn format_1_record(user: &str) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let json = format!(
        r#"{{"c":{now},"e":{},"v":1,"u":"{user}","s":{now},"d":{{"n":5,"note":"é"}}}}"#,
        now + 3_600_000
    );
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(json.as_bytes());
    bytes
}

/// Checks the record an earlier version wrote under `key` in `store` in
/// format 1 ([`format_1_record`] of `ferris`): its data, owner and deadline
/// read back, and a save writes it in the current format, which reads back.
pub async fn assert_format_1_record_reads_and_rewrites(
    store: &impl SessionStore,
    key: &SessionKey,
) {
    let mut old = store.load(key).await.unwrap().expect("the record is read");
    assert_eq!(old.data.get::<u64>("n").unwrap(), Some(5));
    assert_eq!(
        old.data.get::<String>("note").unwrap().as_deref(),
        Some("é")
    );
    assert_eq!(old.owner.as_deref(), Some("ferris"));
    assert!(!old.is_expired(std::time::SystemTime::now()));
    old.data.insert("n", &6).unwrap();
    old.version = 2;
    assert_eq!(store.save(key, &old, 1).await.unwrap(), SaveOutcome::Saved);
    let new = store.load(key).await.unwrap().unwrap();
    assert_eq!(new.data.get::<u64>("n").unwrap(), Some(6));
    assert_eq!(new, old);
}

/// A session of `user` last seen `seen_ago` ago, living a minute more.
pub fn owned_by(user: &str, seen_ago: Duration) -> Record {
    let now = std::time::SystemTime::now();
    let mut record = Record::new(
        Default::default(),
        now - seen_ago,
        now + Duration::from_secs(60),
    );
    record.last_seen = now - seen_ago;
    record.owner = Some(user.to_owned());
    record
}

/// A user id of the test's own: `name` and a random suffix.
pub fn user(name: &str) -> String {
    format!("{name}-{:08x}", rand::random::<u32>())
}
