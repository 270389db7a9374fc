//! `CookieStore`: the whole session sealed into the cookie; nothing kept on
//! the server. Only the name and its documentation live here: the sealing is
//! `token::seal`, the load and persist branch `pipeline::sealed`.

pub use crate::token::MAX_COOKIE_LEN;

/// Keeps each session in its cookie, sealed with XChaCha20-Poly1305: no
/// server, no database, nothing to clean up.
///
/// This type only names and documents it: build the layer with
/// [`SessionLayer::sealed_cookies`], whose name says that the session travels
/// in the cookie, and whose semantics differ from a server-side store's as
/// listed below.
///
/// ```
/// use sessionware::SessionLayer;
///
/// let secret: [u8; 64] = rand::random(); // in production: 64 random bytes from your secret store
/// let layer = SessionLayer::sealed_cookies(&secret);
/// ```
///
/// The record (data, creation time, deadline) is sealed under a key derived
/// by HKDF from the layer's secret with a label of its own, so it is never the
/// signing key. The cookie name is bound as associated data (a sealed value
/// moved under another name does not open), and every seal draws a fresh
/// 192-bit nonce from the operating system, so nonces do not repeat. A cookie
/// that does not open, whatever the reason, is a guest; no plaintext of it
/// reaches the handler.
///
/// # What it cannot do
///
/// * **Revoke a session on the server.** [`Session::destroy`] tells the
///   browser to drop its cookie, and [`Session::cycle_id`] re-seals it, but
///   a copy taken earlier still opens until the deadline sealed inside it,
///   which the layer enforces (a replayed cookie past its deadline is a
///   guest, whatever the browser was told). Keep the expiry short; changing
///   the secret voids every cookie at once. To end one stolen session, or
///   "log out everywhere", use a server-side store.
/// * **Merge concurrent writes.** Each response carries the whole session, so
///   when two requests of one session change it at once the browser keeps
///   the last cookie it receives. Server-side stores merge both.
/// * **Hold much.** Name, `=` and value must fit in [`MAX_COOKIE_LEN`] bytes;
///   the value is about 4/3 of the session's data as JSON, plus about 100 bytes
///   (the record's header, the nonce and the tag). A
///   response whose session would not fit becomes a `500` and the error log
///   gives the size: the cookie is never truncated nor silently dropped.
/// * **Hide the data's size**, which the cookie's length reveals.
///
/// [`SessionLayer::sealed_cookies`]: crate::SessionLayer::sealed_cookies
/// [`Session::destroy`]: crate::Session::destroy
/// [`Session::cycle_id`]: crate::Session::cycle_id
///
/// It has no values: it is the name under which the cookie store is
/// documented, not something to construct.
#[derive(Debug)]
pub enum CookieStore {}
