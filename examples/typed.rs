//! The strongly typed session pattern: a struct that is its own extractor
//! over `Session`, so handlers never spell a key or a JSON shape.
//!
//! ```sh
//! cargo run --example typed
//! curl -c jar -b jar http://127.0.0.1:3000/add/tea
//! curl -c jar -b jar http://127.0.0.1:3000/add/cake
//! curl -c jar -b jar http://127.0.0.1:3000/
//! ```
//!
//! `Cart` keeps its whole state under one key, typed by serde: a handler
//! takes a `Cart` instead of a `Session`, reads fields, and calls methods that
//! write the state back. The session's guarantees are unchanged: a guest
//! gets an empty cart, and the save after the response is conditional on the
//! version it loaded.

use std::net::SocketAddr;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::{Router, routing::get};
use serde::{Deserialize, Serialize};
use sessionware::{Error, MemoryStore, Session, SessionLayer, insecure_dev_secret};

/// What the cart keeps in the session.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CartData {
    items: Vec<String>,
}

/// The visitor's cart: the typed view of their session.
#[derive(Debug)]
struct Cart {
    session: Session,
    data: CartData,
}

impl Cart {
    /// The one key the cart owns in the session.
    const KEY: &'static str = "cart";

    fn items(&self) -> &[String] {
        &self.data.items
    }

    /// Adds `item` and writes the cart back into the session.
    fn add(&mut self, item: String) -> Result<(), Error> {
        self.data.items.push(item);
        self.session.insert(Self::KEY, &self.data)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Cart {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        // A value that no longer reads as `CartData` (an older shape) is an
        // error, not an empty cart: answer 500 rather than lose it silently.
        let data = session
            .get(Self::KEY)
            .map_err(IntoResponse::into_response)?
            .unwrap_or_default();
        Ok(Self { session, data })
    }
}

async fn show(cart: Cart) -> String {
    format!("cart: {:?}\n", cart.items())
}

async fn add(mut cart: Cart, Path(item): Path<String>) -> Result<String, Error> {
    cart.add(item)?;
    Ok(format!("cart: {:?}\n", cart.items()))
}

#[tokio::main]
async fn main() {
    // Plain HTTP on localhost for the demo; keep the default (true) in production.
    let layer = SessionLayer::new(MemoryStore::new(), insecure_dev_secret()).secure(false);
    let app = Router::new()
        .route("/", get(show))
        .route("/add/{item}", get(add))
        .layer(layer);
    let addr = SocketAddr::from(([127, 0, 0, 1], 3000));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("port 3000 is free");
    println!("typed cart listening on http://{addr}");
    axum::serve(listener, app).await.expect("server runs");
}
