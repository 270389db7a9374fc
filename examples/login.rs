//! Form login with `Session::login` (a fresh id against session fixation),
//! a page that shows the user, and a logout that ends the session. The
//! forms are protected against CSRF by tower-http's `CsrfLayer`: a `POST`
//! whose `Sec-Fetch-Site` or `Origin` shows another origin is refused.
//!
//! ```sh
//! cargo run --example login
//! # then open http://127.0.0.1:3001 (any name, password "ferris")
//! ```

use std::net::SocketAddr;

use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use sessionware::{Error, MemoryStore, Session, SessionLayer, insecure_dev_secret};
use tower_http::csrf::CsrfLayer;

#[derive(Deserialize)]
struct Credentials {
    name: String,
    password: String,
}

async fn home(session: Session) -> Result<Html<String>, Error> {
    let page = match session.user() {
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

async fn login(session: Session, Form(credentials): Form<Credentials>) -> Result<Response, Error> {
    if credentials.password != "ferris" || credentials.name.is_empty() {
        return Ok((axum::http::StatusCode::UNAUTHORIZED, "wrong password").into_response());
    }
    // Binds the session to the user and moves it to a fresh id: a cookie
    // planted before login is worthless afterwards, and another user's data
    // is cleared first.
    session.login(credentials.name);
    Ok(Redirect::to("/").into_response())
}

async fn logout(session: Session) -> Redirect {
    session.logout();
    Redirect::to("/")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[tokio::main]
async fn main() {
    let layer = SessionLayer::new(MemoryStore::new(), insecure_dev_secret())
        // Plain HTTP on localhost for the demo; keep the default (true) in production.
        .secure(false);
    let app = Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .layer(CsrfLayer::new())
        .layer(layer);

    let addr = SocketAddr::from(([127, 0, 0, 1], 3001));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("port 3001 is free");
    println!("login example listening on http://{addr}");
    axum::serve(listener, app).await.expect("server runs");
}
