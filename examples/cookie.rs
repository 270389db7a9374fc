//! A shopping cart in sealed cookies (`SessionLayer::sealed_cookies`): the
//! whole session travels sealed in the cookie, so there is no server state
//! at all.
//!
//! ```sh
//! cargo run --example cookie --features cookie-store
//! # SESSIONWARE_SECRET defaults to a random key
//! curl -c jar -b jar http://127.0.0.1:3000/add/apple
//! curl -c jar -b jar http://127.0.0.1:3000/add/pear
//! curl -c jar -b jar http://127.0.0.1:3000/
//! curl -c jar -b jar -X POST http://127.0.0.1:3000/checkout
//! ```
//!
//! `POST /checkout` is protected against CSRF by tower-http's `CsrfLayer`:
//! a browser's post from another origin is refused with 403 (curl sends
//! neither `Origin` nor `Sec-Fetch-Site`, so it passes).
//!
//! The cookie in `jar` is opaque: its contents are encrypted and
//! authenticated. Copies of an older cookie keep opening until their sealed
//! deadline (here 30 minutes of inactivity): a cookie store cannot revoke a
//! session on the server, so keep what it carries low-stakes.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use sessionware::{Error, Expiry, Session, SessionLayer, insecure_dev_secret};
use tower_http::csrf::CsrfLayer;

async fn show(session: Session) -> Result<String, Error> {
    let cart: Vec<String> = session.get("cart")?.unwrap_or_default();
    Ok(format!("cart: {cart:?}\n"))
}

async fn add(session: Session, Path(item): Path<String>) -> Result<String, Error> {
    let mut cart: Vec<String> = session.get("cart")?.unwrap_or_default();
    cart.push(item);
    session.insert("cart", &cart)?;
    Ok(format!("cart: {cart:?}\n"))
}

async fn checkout(session: Session) -> Result<String, Error> {
    let cart: Vec<String> = session.get("cart")?.unwrap_or_default();
    // Tells the browser to drop the cookie; see the module docs for what
    // that does not do.
    session.destroy();
    Ok(format!("ordered {} items\n", cart.len()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // With SESSIONWARE_SECRET (hex or base64) sessions stay valid across
    // restarts; without it, a random secret is drawn (with a warning).
    let layer = match std::env::var_os("SESSIONWARE_SECRET") {
        Some(_) => SessionLayer::sealed_cookies_from_env()?,
        None => SessionLayer::sealed_cookies(insecure_dev_secret()),
    };
    // Plain HTTP on localhost for the demo; keep the default (true) in production.
    let layer = layer
        .secure(false)
        .expiry(Expiry::OnInactivity(Duration::from_secs(30 * 60)));
    layer.validate()?;
    let app = Router::new()
        .route("/", get(show))
        .route("/add/{item}", get(add))
        .route("/checkout", post(checkout))
        .layer(CsrfLayer::new())
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("cookie-store cart listening on http://127.0.0.1:3000");
    axum::serve(listener, app).await?;
    Ok(())
}
