//! Form login with `cycle_id` (against session fixation), a page that shows
//! the user, and a logout that destroys the session.
//!
//! ```sh
//! cargo run --example login
//! # then open http://127.0.0.1:3001 (any name, password "ferris")
//! ```

use std::net::SocketAddr;

use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use rand::TryRngCore as _;
use serde::Deserialize;
use sessionware::{MemoryStore, Session, SessionError, SessionLayer};

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

async fn home(session: Session) -> Result<Html<String>, SessionError> {
    let page = match session.get::<String>("user")? {
        Some(user) => format!(
            "<p>Signed in as <b>{}</b>.</p>\
             <form method=post action=/logout><button>Log out</button></form>",
            escape(&user)
        ),
        None => "<form method=post action=/login>\
                 <input name=name placeholder=name> <input name=password type=password placeholder=password>\
                 <button>Log in</button></form>"
            .to_owned(),
    };
    Ok(Html(page))
}

async fn login(
    session: Session,
    Form(credentials): Form<Credentials>,
) -> Result<Response, SessionError> {
    if credentials.password != "ferris" || credentials.name.is_empty() {
        return Ok((axum::http::StatusCode::UNAUTHORIZED, "wrong password").into_response());
    }
    // Drop anything a previous user left, then move to a fresh id: a cookie
    // planted before login is worthless afterwards.
    session.clear();
    session.insert("user", credentials.name)?;
    session.cycle_id();
    Ok(Redirect::to("/").into_response())
}

async fn logout(session: Session) -> Redirect {
    session.destroy();
    Redirect::to("/")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[tokio::main]
async fn main() {
    let mut secret = vec![0u8; 64];
    rand::rngs::OsRng
        .try_fill_bytes(&mut secret)
        .expect("the OS random generator works");
    let layer = SessionLayer::new(MemoryStore::new(), secret)
        // Plain HTTP on localhost for the demo; keep the default (true) in production.
        .secure(false);
    let app = Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .layer(layer);

    let addr = SocketAddr::from(([127, 0, 0, 1], 3001));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("port 3001 is free");
    println!("login example listening on http://{addr}");
    axum::serve(listener, app).await.expect("server runs");
}
