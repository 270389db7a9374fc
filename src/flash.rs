//! Flash messages: notes for the user's next page ("Saved", "Wrong
//! password"), kept in the session until a request reads them.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::session::Session;

/// Every flash message is a session key of its own: this prefix, then an
/// id that sorts in the order the messages were added.
const PREFIX: &str = "_flash.";
/// The most messages kept unread; adding more drops the oldest.
const MAX_PENDING: usize = 32;

/// How much a flash message matters; a template picks its style by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FlashLevel {
    /// Something to know.
    Info,
    /// Something worked ("Saved").
    Success,
    /// Something to watch ("Your password expires in 3 days").
    Warning,
    /// Something failed ("Wrong password").
    Error,
}

impl FlashLevel {
    /// The level in lower case (`"info"`, `"success"`, `"warning"`,
    /// `"error"`), as stored and as a CSS class.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Success => "success",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for FlashLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One flash message, as [`Flash::take`] returns it. Stored in the session
/// as `{"level":"success","text":"Saved"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlashMessage {
    /// How much it matters.
    pub level: FlashLevel,
    /// What to show: plain text, to be escaped by the template like any
    /// other text.
    pub text: String,
}

/// The flash messages of the session: added by one request, read and
/// removed by a later one, so they survive a redirect.
///
/// An axum extractor (feature `axum`); elsewhere, `Flash::new(session)`.
/// [`take`](Flash::take) returns them in the order they were added, and a
/// request that finds none writes nothing: a guest without messages gets
/// no cookie.
///
/// Each message is a session key of its own (`_flash.<id>`, the id ordered
/// by time), so requests of one session that add and read messages at the
/// same time merge like any other disjoint changes: none is lost, and none
/// comes back once read. Two requests that read at the very same time (two
/// tabs opening together) may both show a message, never a third one. At
/// most 32 messages wait unread; adding more drops the oldest.
///
/// A signed-in session, or one with other data, is never emptied by a read.
/// A guest session that holds only messages ends when they are read (an
/// emptied session does), but only as the version that request loaded: a
/// message another request of the same guest saved meanwhile keeps the
/// session alive, and is shown next. A message whose request saves after
/// the session ended is dropped with it, like any write to an ended
/// session.
///
/// After [`Session::logout`] or [`Session::destroy`] changes are dropped,
/// messages too: to say "Signed out", call [`Session::clear`] and
/// [`Session::cycle_id`] instead, then add the message.
///
/// # Example
///
/// ```
/// use axum::response::Redirect;
/// use axum::{Router, routing::get};
/// use sessionware::{Error, Flash, MemoryStore, SessionLayer};
/// # use tower::ServiceExt as _;
///
/// async fn save(flash: Flash) -> Result<Redirect, Error> {
///     flash.success("Saved")?;
///     flash.warning("Your password expires in 3 days")?;
///     Ok(Redirect::to("/"))
/// }
///
/// async fn home(flash: Flash) -> String {
///     let lines = flash.take().into_iter().map(|m| format!("{}: {}", m.level, m.text));
///     lines.collect::<Vec<_>>().join("\n")
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let secret: [u8; 64] = rand::random();
/// let app = Router::new()
///     .route("/", get(home))
///     .route("/save", get(save))
///     .layer(SessionLayer::new(MemoryStore::new(), &secret));
/// # let get = |uri: &str, cookie: &str| {
/// #     let request = http::Request::get(uri).header("cookie", cookie);
/// #     request.body(axum::body::Body::empty()).unwrap()
/// # };
/// # let text = |response: http::Response<axum::body::Body>| async {
/// #     let bytes = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
/// #     String::from_utf8(bytes.to_vec()).unwrap()
/// # };
///
/// let response = app.clone().oneshot(get("/save", "")).await.unwrap();
/// assert_eq!(response.status(), 303);
/// let cookie = response.headers()["set-cookie"].to_str().unwrap();
/// let cookie = cookie.split(';').next().unwrap();
///
/// let shown = text(app.clone().oneshot(get("/", cookie)).await.unwrap()).await;
/// assert_eq!(shown, "success: Saved\nwarning: Your password expires in 3 days");
/// let again = text(app.oneshot(get("/", cookie)).await.unwrap()).await;
/// assert_eq!(again, "", "read once, then gone");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Flash {
    session: Session,
}

impl Flash {
    /// The flash messages of `session`.
    pub fn new(session: Session) -> Self {
        Self { session }
    }

    /// Adds a message for a later request (see [`Flash`] for an example).
    ///
    /// # Errors
    ///
    /// As [`Session::insert`]: [`ErrorKind::TooLarge`](crate::ErrorKind::TooLarge)
    /// if the session would pass the layer's `max_data_size`.
    pub fn push(&self, level: FlashLevel, text: impl Into<String>) -> Result<(), Error> {
        let message = FlashMessage {
            level,
            text: text.into(),
        };
        self.session.insert(&new_key(), &message)?;
        let keys = self.keys();
        for oldest in &keys[..keys.len().saturating_sub(MAX_PENDING)] {
            self.session.remove(oldest);
        }
        Ok(())
    }

    /// Adds an [`Info`](FlashLevel::Info) message; errors as [`Flash::push`].
    pub fn info(&self, text: impl Into<String>) -> Result<(), Error> {
        self.push(FlashLevel::Info, text)
    }

    /// Adds a [`Success`](FlashLevel::Success) message; errors as [`Flash::push`].
    pub fn success(&self, text: impl Into<String>) -> Result<(), Error> {
        self.push(FlashLevel::Success, text)
    }

    /// Adds a [`Warning`](FlashLevel::Warning) message; errors as [`Flash::push`].
    pub fn warning(&self, text: impl Into<String>) -> Result<(), Error> {
        self.push(FlashLevel::Warning, text)
    }

    /// Adds an [`Error`](FlashLevel::Error) message; errors as [`Flash::push`].
    pub fn error(&self, text: impl Into<String>) -> Result<(), Error> {
        self.push(FlashLevel::Error, text)
    }

    /// Removes the waiting messages from the session and returns them,
    /// oldest first; empty if there are none (and then nothing is written).
    /// A message this version cannot read (a level from a newer one) is
    /// removed and skipped.
    pub fn take(&self) -> Vec<FlashMessage> {
        let keys = self.keys();
        let mut messages = Vec::with_capacity(keys.len());
        for key in keys {
            match self.session.get::<FlashMessage>(&key) {
                Ok(message) => messages.extend(message),
                Err(err) => tracing::debug!(error = %err, "unreadable flash message dropped"),
            }
            self.session.remove(&key);
        }
        messages
    }

    /// The session's flash keys, oldest first (the data's keys are sorted).
    fn keys(&self) -> Vec<String> {
        let state = self.session.state();
        state
            .data
            .keys()
            .skip_while(|key| *key < PREFIX)
            .take_while(|key| key.starts_with(PREFIX))
            .map(str::to_owned)
            .collect()
    }
}

/// A fresh flash key: `_flash.`, then 16 hex digits of microseconds since
/// 1970, strictly increasing within the process (so the keys of one
/// instance sort in the order they were made, even within a microsecond
/// or when the clock steps back), then 8 random hex digits (so two
/// instances never make the same key).
fn new_key() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
        });
    let next = |last: u64| now.max(last.saturating_add(1));
    let last = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(next(last))
        })
        .unwrap_or_else(|last| last);
    format!("{PREFIX}{:016x}{:08x}", next(last), rand::random::<u32>())
}

#[cfg(feature = "axum")]
impl<S: Send + Sync> axum_core::extract::FromRequestParts<S> for Flash {
    type Rejection = crate::extract::SessionRejection;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let session =
            <Session as axum_core::extract::FromRequestParts<S>>::from_request_parts(parts, state);
        session.await.map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_in_the_order_they_were_made() {
        let keys: Vec<String> = (0..10_000).map(|_| new_key()).collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(keys.iter().all(|key| key.len() == PREFIX.len() + 24));
    }

    #[test]
    fn keys_made_on_many_threads_are_distinct() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..2_000).map(|_| new_key()).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<String> = threads
            .into_iter()
            .flat_map(|thread| thread.join().unwrap())
            .collect();
        let total = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), total);
    }

    #[test]
    fn a_message_is_stored_as_level_and_text() {
        let message = FlashMessage {
            level: FlashLevel::Success,
            text: "Saved".into(),
        };
        let json = serde_json::to_string(&message).unwrap();
        assert_eq!(json, r#"{"level":"success","text":"Saved"}"#);
        assert_eq!(
            serde_json::from_str::<FlashMessage>(&json).unwrap(),
            message
        );
    }
}
