//! "Your devices": a user logs in from three clients, lists their sessions,
//! revokes one, then logs out everywhere else. The routes are ordinary axum
//! handlers; `main` plays the three clients against the router in-process
//! and prints what each sees.
//!
//! ```sh
//! cargo run --example devices
//! ```

use axum::extract::Path;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use sessionware::{MemoryStore, Session, SessionHandle, SessionLayer, insecure_dev_secret};
use tower::ServiceExt as _;

async fn login(session: Session, Path(user): Path<String>) -> &'static str {
    // A real application checks a password first.
    session.login(user);
    "logged in"
}

/// The user's sessions, newest activity first, marking the one asking. The
/// session's own helpers read the layer's store for the session's own user:
/// no handler can name another user.
async fn devices(session: Session) -> Result<Json<Vec<serde_json::Value>>, StatusCode> {
    if session.user().is_none() {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let sessions = session
        .devices()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    let current = session.handle();
    let list = sessions
        .into_iter()
        .map(|info| {
            let agent = info.metadata.and_then(|m| m.user_agent);
            serde_json::json!({
                "handle": info.handle,
                "device": agent,
                "this_device": Some(info.handle) == current,
            })
        })
        .collect();
    Ok(Json(list))
}

async fn revoke(
    session: Session,
    Path(handle): Path<SessionHandle>,
) -> Result<&'static str, StatusCode> {
    if session.user().is_none() {
        return Err(StatusCode::UNAUTHORIZED);
    }
    // Only the user's own sessions can be revoked: another user's handle is `false`.
    match session.revoke_device(&handle).await {
        Ok(true) => Ok("revoked"),
        Ok(false) => Err(StatusCode::NOT_FOUND),
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

async fn logout_others(session: Session) -> Result<String, StatusCode> {
    if session.user().is_none() {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let ended = session
        .revoke_other_devices()
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(format!("ended {ended} other sessions"))
}

fn app(store: MemoryStore) -> Router {
    let layer = SessionLayer::new(store, insecure_dev_secret())
        .secure(false) // plain HTTP for the demo
        .login_metadata(true) // keep the user agent for the device list
        .max_sessions_per_user(5);
    Router::new()
        .route("/login/{user}", post(login))
        .route("/devices", get(devices))
        .route("/devices/{handle}/revoke", post(revoke))
        .route("/logout-others", post(logout_others))
        .layer(layer)
}

/// One client: a user agent and the cookie it was given.
struct Client {
    agent: &'static str,
    cookie: Option<String>,
}

impl Client {
    async fn send(&mut self, app: &Router, method: &str, path: &str) -> (StatusCode, String) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("user-agent", self.agent);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let request = request
            .body(axum::body::Body::empty())
            .expect("a valid request");
        let response = app.clone().oneshot(request).await.expect("infallible");
        if let Some(set) = response.headers().get("set-cookie") {
            let pair = set
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default();
            self.cookie = Some(pair.to_owned());
        }
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

#[tokio::main]
async fn main() {
    let app = app(MemoryStore::new());
    let mut laptop = Client {
        agent: "Firefox on a laptop",
        cookie: None,
    };
    let mut phone = Client {
        agent: "Safari on a phone",
        cookie: None,
    };
    let mut tablet = Client {
        agent: "Chrome on a tablet",
        cookie: None,
    };
    for client in [&mut laptop, &mut phone, &mut tablet] {
        client.send(&app, "POST", "/login/ferris").await;
    }

    let (_, list) = laptop.send(&app, "GET", "/devices").await;
    println!("the laptop sees:\n{}\n", pretty(&list));

    // Revoke the tablet from the laptop.
    let devices: Vec<serde_json::Value> = serde_json::from_str(&list).expect("JSON");
    let tablet_handle = devices
        .iter()
        .find(|d| d["device"] == "Chrome on a tablet")
        .and_then(|d| d["handle"].as_str())
        .expect("the tablet is listed")
        .to_owned();
    let (_, said) = laptop
        .send(&app, "POST", &format!("/devices/{tablet_handle}/revoke"))
        .await;
    println!("revoke the tablet: {said}");
    let (status, _) = tablet.send(&app, "GET", "/devices").await;
    println!("the tablet's next request: {status} (its session is gone)\n");

    // From the phone: log out everywhere else.
    let (_, said) = phone.send(&app, "POST", "/logout-others").await;
    println!("the phone logs out everywhere else: {said}");
    let (status, _) = laptop.send(&app, "GET", "/devices").await;
    println!("the laptop's next request: {status}");
    let (_, list) = phone.send(&app, "GET", "/devices").await;
    println!("the phone sees:\n{}", pretty(&list));
}

fn pretty(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .unwrap_or_else(|_| json.to_owned())
}
