//! The application the request checks drive: [`SessionLayer`] over a plain
//! tower service (no web framework), called the way a server calls it.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Request, Response, StatusCode};
use sha2::{Digest as _, Sha256};
use tower_layer::Layer as _;
use tower_service::Service;

use crate::event::SessionEvent;
use crate::layer::SessionLayer;
use crate::pending::PendingSession;
use crate::service::SessionService;
use crate::session::Session;
use crate::token::SessionKey;

/// The layered application: [`Handler`] behind a [`SessionLayer`].
pub(super) type App = SessionService<Handler>;

/// `layer` over the [`Handler`].
pub(super) fn app(layer: &SessionLayer) -> App {
    layer.layer(Handler)
}

/// The secret of every layer the checks build: random, one per process.
pub(super) fn secret() -> &'static [u8] {
    static SECRET: LazyLock<[u8; 64]> = LazyLock::new(rand::random);
    &*SECRET
}

/// The handler: one route per `Session` operation the checks need. Each
/// takes the [`PendingSession`] the layer put in the request, loads it and
/// answers with what happened in the body.
///
/// | path | does | body |
/// | --- | --- | --- |
/// | `/get` | reads `n` | `Some(n)` or `None` |
/// | `/insert` | increments `n` | the new `n` |
/// | `/insert/{key}` | sets `key` to `true` | empty |
/// | `/count` | counts the keys `k0`..`k999` | the count |
/// | `/cycle`, `/destroy`, `/clear` | that method | empty |
/// | `/login/{name}`, `/logout` | that method | `ok`, empty |
/// | `/whoami` | [`Session::user`] | `Some("name")` or `None` |
/// | `/put/{value}`, `/secret` | writes, reads `secret` | empty, `Some("value")` or `None` |
#[derive(Debug, Clone, Copy)]
pub(super) struct Handler;

impl Service<Request<()>> for Handler {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<String>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let pending = request.extensions().get::<PendingSession>().cloned();
        Box::pin(async move {
            let pending = pending.expect("SessionLayer put no PendingSession in the request");
            let response = match route(&path) {
                Some((name, arg)) => Response::new(handle(&pending.load().await, name, arg)),
                None => {
                    let mut response = Response::new(format!("no route for {path}"));
                    *response.status_mut() = StatusCode::NOT_FOUND;
                    response
                }
            };
            Ok(response)
        })
    }
}

/// The route of `path` and its argument, if the handler knows it.
fn route(path: &str) -> Option<(&str, Option<&str>)> {
    let path = path.strip_prefix('/')?;
    let (name, arg) = match path.split_once('/') {
        Some((name, arg)) => (name, Some(arg)),
        None => (path, None),
    };
    let known = match arg {
        None => matches!(
            name,
            "get"
                | "insert"
                | "count"
                | "cycle"
                | "destroy"
                | "clear"
                | "logout"
                | "whoami"
                | "secret"
        ),
        Some(arg) => {
            matches!(name, "insert" | "login" | "put") && !arg.is_empty() && !arg.contains('/')
        }
    };
    known.then_some((name, arg))
}

/// Runs route `name` on the loaded session; the body of the response.
fn handle(s: &Session, name: &str, arg: Option<&str>) -> String {
    match (name, arg) {
        ("get", _) => format!("{:?}", s.get::<u64>("n").unwrap()),
        ("insert", None) => {
            let n = s.get::<u64>("n").unwrap().unwrap_or(0) + 1;
            s.insert("n", n).unwrap();
            n.to_string()
        }
        ("insert", Some(key)) => {
            s.insert(key, true).unwrap();
            String::new()
        }
        ("count", _) => (0..1000)
            .filter(|i| s.get::<bool>(&format!("k{i}")).unwrap().is_some())
            .count()
            .to_string(),
        ("login", Some(user)) => {
            s.login(user);
            "ok".to_owned()
        }
        ("whoami", _) => format!("{:?}", s.user()),
        ("put", Some(value)) => {
            s.insert("secret", value).unwrap();
            String::new()
        }
        ("secret", _) => format!("{:?}", s.get::<String>("secret").unwrap()),
        (name, _) => {
            match name {
                "cycle" => s.cycle_id(),
                "destroy" => s.destroy(),
                "clear" => s.clear(),
                "logout" => s.logout(),
                _ => unreachable!("route {name} is known"),
            }
            String::new()
        }
    }
}

/// What came back from one request.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: String,
}

impl Reply {
    /// Every `Set-Cookie` header.
    pub(super) fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The one `Set-Cookie` header, if any (panics if there are several).
    pub(super) fn set_cookie(&self) -> Option<String> {
        let all = self.set_cookies();
        assert!(all.len() <= 1, "more than one Set-Cookie: {all:?}");
        all.into_iter().next()
    }

    /// The `name=value` pair of the `Set-Cookie`, ready to send back.
    pub(super) fn cookie_pair(&self) -> String {
        let header = self.set_cookie().expect("a Set-Cookie header");
        header.split(';').next().unwrap().to_owned()
    }

    /// The value of header `name`, if any.
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

/// Sends `GET path`, with one `Cookie` header if given.
pub(super) async fn send(app: &App, path: &str, cookie: Option<&str>) -> Reply {
    let cookie = cookie.map(|line| ("cookie", line));
    send_headers(app, path, cookie.as_slice()).await
}

/// Sends `GET path` with the given headers to a clone of `app`, as a server
/// does: `poll_ready`, then `call`.
pub(super) async fn send_headers(app: &App, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder().uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(()).unwrap();
    let mut app = app.clone();
    let Ok(()) = poll_fn(|cx| app.poll_ready(cx)).await;
    let Ok(response) = app.call(request).await;
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// The events a layer reported, shared with its hook.
pub(super) type EventLog = Arc<Mutex<Vec<SessionEvent>>>;

/// `layer` with a hook that records every event.
pub(super) fn recorded(layer: SessionLayer) -> (SessionLayer, EventLog) {
    let log = EventLog::default();
    let sink = Arc::clone(&log);
    let layer = layer.on_event(move |event| sink.lock().unwrap().push(event.clone()));
    (layer, log)
}

/// The events recorded since the last call.
pub(super) fn take(log: &EventLog) -> Vec<SessionEvent> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// The random part of a cookie pair (`id=<random>.<tag>`) or of a token.
pub(super) fn random_part(pair: &str) -> &str {
    pair.trim_start_matches("id=").split('.').next().unwrap()
}

/// The store key of a cookie pair or token, computed independently of the
/// crate: the SHA-256 of its decoded random part.
pub(super) fn store_key(pair: &str) -> SessionKey {
    let bytes = URL_SAFE_NO_PAD.decode(random_part(pair)).unwrap();
    SessionKey::from_bytes(Sha256::digest(bytes).into())
}
