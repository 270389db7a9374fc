//! `CookieStore`: the whole session sealed into the cookie; nothing kept on the server.

use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use http::HeaderValue;

use crate::error::{Error, ErrorKind};
use crate::event::SessionEvent;
use crate::layer::Context;
use crate::persist::CookieAction;
use crate::record::Record;
use crate::session::{Origin, State};
use crate::token::{self, Keyring, Rejection, Verified, fill_random};

/// HKDF `info` label of the sealing key: never the signing key.
pub(crate) const SEALING_LABEL: &[u8] = b"sessionware/v1/cookie-store";

/// The most bytes a cookie's name, `=` and value may take: browsers drop
/// bigger cookies silently (RFC 6265 section 6.1 asks for at least 4096).
pub const MAX_COOKIE_LEN: usize = 4096;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Keeps each session in its cookie, sealed with XChaCha20-Poly1305: no
/// server, no database, nothing to clean up.
///
/// ```
/// use sessionware::{CookieStore, SessionLayer};
///
/// let secret: [u8; 64] = rand::random(); // in production: 64 random bytes from your secret store
/// let layer = SessionLayer::new(CookieStore::new(), &secret);
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
///   the value is about 4/3 of the JSON-encoded session plus 54 bytes. A
///   response whose session would not fit becomes a `500` and the error log
///   gives the size: the cookie is never truncated nor silently dropped.
/// * **Hide the data's size**, which the cookie's length reveals.
///
/// [`Session::destroy`]: crate::Session::destroy
/// [`Session::cycle_id`]: crate::Session::cycle_id
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CookieStore {}

impl CookieStore {
    /// The cookie store. Its key comes from the secret given to the layer.
    pub fn new() -> Self {
        Self {}
    }
}

/// The ciphers of one layer's cookie store: the current key first, then the
/// retired ones, which only open. Each cipher wipes its key when dropped, and
/// each seal or open its one-time ChaCha20 and Poly1305 state.
#[derive(Clone)]
pub(crate) struct Sealer {
    ciphers: Vec<XChaCha20Poly1305>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub(crate) fn new(keyring: &Keyring) -> Self {
        let ciphers = keyring
            .sealing()
            .map(|key| XChaCha20Poly1305::new(Key::from_slice(key)))
            .collect();
        Self { ciphers }
    }

    /// The cookie value for `record` under `cookie_name`: base64url of nonce,
    /// ciphertext and tag. Refuses a cookie browsers would drop (over 4096 bytes).
    pub(crate) fn seal(&self, cookie_name: &str, record: &Record) -> Result<String, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let plain = record.encode();
        let payload = Payload {
            msg: &plain,
            aad: cookie_name.as_bytes(),
        };
        let sealed = self.ciphers[0]
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| Error::new(ErrorKind::Serialization, "session could not be sealed"))?;
        let cookie_len = cookie_name.len()
            + 1
            + base64::encoded_len(NONCE_LEN + sealed.len(), false).unwrap_or(usize::MAX);
        if cookie_len > MAX_COOKIE_LEN {
            return Err(
                Error::new(ErrorKind::TooLarge, "session is too big for a cookie").with_detail(
                    format!(
                        "the sealed cookie would take {cookie_len} bytes (name and value), over the \
                         browsers' limit of {MAX_COOKIE_LEN}; the session encodes to {} bytes. \
                         Keep less in the session or use a server-side store",
                        plain.len()
                    ),
                ),
            );
        }
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a cookie value sealed under `cookie_name`, trying the current
    /// key, then the retired ones. Anything but an authentic, readable record
    /// is a rejection; nothing is decrypted into the session unless the tag
    /// verified.
    pub(crate) fn open(
        &self,
        cookie_name: &str,
        text: &[u8],
    ) -> Result<Verified<Record>, Rejection> {
        if text.len() > MAX_COOKIE_LEN {
            return Err(Rejection::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| Rejection::Malformed)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(Rejection::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let payload = || Payload {
            msg: sealed,
            aad: cookie_name.as_bytes(),
        };
        let (position, plain) = self
            .ciphers
            .iter()
            .enumerate()
            .find_map(|(position, cipher)| {
                let plain = cipher.decrypt(XNonce::from_slice(nonce), payload()).ok()?;
                Some((position, plain))
            })
            .ok_or(Rejection::BadTag)?;
        // Authentic but unreadable: a record format this version does not know.
        let record = Record::decode(&plain).map_err(|_| Rejection::Malformed)?;
        Ok(Verified {
            value: record,
            retired: position > 0,
        })
    }
}

/// The record sealed in the request's cookies: exactly one genuine cookie
/// of our name whose sealed deadline has not passed, else `None` (a guest).
pub(crate) fn open_presented(
    ctx: &Context,
    sealer: &Sealer,
    headers: &[HeaderValue],
) -> Option<Verified<Record>> {
    let name = &ctx.config.cookie_name;
    let transport = &ctx.config.transport;
    let presented = token::find_with(transport, name, headers, |value| sealer.open(name, value));
    let opened = ctx.accept(presented)?;
    let record = &opened.value;
    if ctx
        .config
        .has_ended(record.created_at, record.expires_at, SystemTime::now())
    {
        ctx.events.emit(|| SessionEvent::Expired { handle: None });
        return None;
    }
    ctx.events
        .emit_routine(|| SessionEvent::Loaded { handle: None });
    Some(opened)
}

/// The after-response step of a cookie-store session: a freshly sealed
/// cookie, a removal, or nothing. No I/O, so nothing can fail but the size.
pub(crate) fn persist(ctx: &Context, sealer: &Sealer, state: State) -> Result<CookieAction, Error> {
    let now = SystemTime::now();
    let (created_at, sealed_deadline, reseal) = match &state.origin {
        Origin::Sealed(sealed) => (sealed.created_at, Some(sealed.expires_at), sealed.reseal),
        Origin::Guest => (now, None, false),
        Origin::Unloaded | Origin::Degraded | Origin::Stored(_) => return Ok(CookieAction::Keep),
    };
    let created_at = if state.login { now } else { created_at };
    if state.destroyed || state.is_blank() {
        let had_cookie = sealed_deadline.is_some() && state.is_dirty();
        if !had_cookie {
            return Ok(CookieAction::Keep);
        }
        ctx.events.emit(|| SessionEvent::Destroyed { handle: None });
        return Ok(CookieAction::Remove);
    }
    let expiry = state.expiry.unwrap_or(ctx.config.expiry);
    let mut deadline = ctx.config.deadline(expiry, created_at, now);
    if let Some(sealed_deadline) = sealed_deadline
        && !state.is_dirty()
        && !ctx
            .config
            .needs_refresh(expiry, created_at, sealed_deadline, now)
    {
        if !reseal {
            return Ok(CookieAction::Keep);
        }
        // Re-sealed under the current key only: the deadline stays.
        deadline = sealed_deadline;
    }
    let event = match sealed_deadline {
        None => Some(SessionEvent::Created { handle: None }),
        Some(_) if state.cycle => Some(SessionEvent::Cycled {
            old: None,
            new: None,
        }),
        Some(_) if reseal && !state.is_dirty() => Some(SessionEvent::Resigned { handle: None }),
        Some(_) => None,
    };
    let mut record = Record::new(state.data, created_at, deadline);
    record.expiry = state.expiry;
    record.owner = state.owner;
    record.metadata = state.metadata;
    record.user_agent_digest = state.request_agent.or(state.agent);
    record.last_seen = now;
    let value = sealer.seal(&ctx.config.cookie_name, &record)?;
    if let Some(event) = event {
        ctx.events.emit(|| event);
    }
    Ok(CookieAction::Set(ctx.config.session_cookie(
        value,
        expiry,
        record.expires_at,
        now,
    )))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;
    use crate::token::{derive_bytes, test_secret};

    fn sealer() -> Sealer {
        sealer_of(1)
    }

    /// A sealer under the test secret numbered `seed`.
    fn sealer_of(seed: u8) -> Sealer {
        Sealer::new(&Keyring::new(test_secret(seed)).unwrap())
    }

    fn record() -> Record {
        let now = SystemTime::now();
        let mut record = Record::new(Default::default(), now, now + Duration::from_secs(60));
        record.data.insert("user".into(), "ferris".into());
        record
    }

    fn raw(value: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(value).unwrap()
    }

    /// The sealing key's derivation is pinned and differs from the signing key.
    #[test]
    fn case_74_sealing_key_derivation_is_pinned_and_separate() {
        let secret: Vec<u8> = (0u8..64).collect();
        let key = derive_bytes(&secret, SEALING_LABEL);
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        // Computed independently (Python hmac): HKDF-SHA256(no salt, 0x00..0x3f, SEALING_LABEL).
        assert_eq!(
            hex,
            "1790fd27230165bbf6705c7668f3288af7cf7509855fbfb8b7030aa3b0f4818a"
        );
        assert_ne!(key, derive_bytes(&secret, b"sessionware/v1/cookie-signing"));
    }

    #[test]
    fn sealed_records_open_and_hide_the_data() {
        let sealer = sealer();
        let sent = record();
        let value = sealer.seal("id", &sent).unwrap();
        assert!(!value.contains("ferris"));
        assert!(!String::from_utf8_lossy(&raw(&value)).contains("ferris"));
        let opened = sealer.open("id", value.as_bytes()).unwrap().value;
        // Times travel as milliseconds, as in every store.
        assert_eq!(opened.data, sent.data);
        assert_eq!(
            crate::record::unix_millis(opened.expires_at),
            crate::record::unix_millis(sent.expires_at)
        );
        assert_ne!(
            value,
            sealer.seal("id", &sent).unwrap(),
            "a fresh nonce each time"
        );
    }

    /// A million seals under one key repeat no nonce.
    #[test]
    fn case_68_a_million_seals_repeat_no_nonce() {
        let sealer = sealer();
        let record = Record::new(Default::default(), SystemTime::now(), SystemTime::now());
        let mut nonces = HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            let value = sealer.seal("id", &record).unwrap();
            let nonce: [u8; NONCE_LEN] = raw(&value)[..NONCE_LEN].try_into().unwrap();
            assert!(
                nonces.insert(nonce),
                "nonce repeated after {} seals",
                nonces.len()
            );
        }
    }

    /// Flipping any bit of the nonce, ciphertext or tag fails
    /// to open; nothing is returned but the rejection.
    #[test]
    fn case_68_any_tampered_byte_fails_to_open() {
        let sealer = sealer();
        let bytes = raw(&sealer.seal("id", &record()).unwrap());
        assert!(bytes.len() > NONCE_LEN + TAG_LEN);
        for at in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut tampered = bytes.clone();
                tampered[at] ^= bit;
                let text = URL_SAFE_NO_PAD.encode(&tampered);
                assert_eq!(
                    sealer.open("id", text.as_bytes()),
                    Err(Rejection::BadTag),
                    "byte {at} bit {bit:#x}"
                );
            }
        }
        let truncated = URL_SAFE_NO_PAD.encode(&bytes[..NONCE_LEN + TAG_LEN - 1]);
        assert_eq!(
            sealer.open("id", truncated.as_bytes()),
            Err(Rejection::Malformed)
        );
        assert_eq!(sealer.open("id", b"not base64!"), Err(Rejection::Malformed));
    }

    /// The cookie name is associated data, and another secret is another key.
    #[test]
    fn another_name_or_secret_does_not_open() {
        let value = sealer().seal("id", &record()).unwrap();
        assert_eq!(
            sealer().open("other", value.as_bytes()),
            Err(Rejection::BadTag)
        );
        let other = sealer_of(2);
        assert_eq!(other.open("id", value.as_bytes()), Err(Rejection::BadTag));
    }

    /// A record that would make the cookie pass 4096 bytes is refused, with its size.
    #[test]
    fn case_66_a_cookie_over_4096_bytes_is_refused_with_its_size() {
        let sealer = sealer();
        let mut record = record();
        // Find the largest payload that still fits, then one byte more.
        let fits = (0..4096)
            .rev()
            .find(|&n| {
                record.data.insert("blob".into(), "x".repeat(n).into());
                sealer.seal("id", &record).is_ok()
            })
            .unwrap();
        record.data.insert("blob".into(), "x".repeat(fits).into());
        let value = sealer.seal("id", &record).unwrap();
        assert!("id=".len() + value.len() <= MAX_COOKIE_LEN);
        assert!(
            "id=".len() + value.len() > MAX_COOKIE_LEN - 4,
            "the limit is used up to the last base64 group"
        );
        record
            .data
            .insert("blob".into(), "x".repeat(fits + 1).into());
        let err = sealer.seal("id", &record).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TooLarge);
        // The size in the message, computed independently: name, '=', and
        // base64 (unpadded) of nonce, ciphertext and tag.
        let plain = record.encode().len();
        let sealed = NONCE_LEN + plain + TAG_LEN;
        let expected = 3 + (sealed * 4).div_ceil(3);
        assert!(expected > MAX_COOKIE_LEN);
        let message = err.to_string();
        assert!(
            message.contains(&format!("would take {expected} bytes")),
            "{message}"
        );
        assert!(
            message.contains(&format!("encodes to {plain} bytes")),
            "{message}"
        );
        assert!(message.contains("limit of 4096"), "{message}");
    }

    /// Rotation for sealed cookies: a retired key still opens
    /// (and says so), a removed one does not.
    #[test]
    fn case_70_72_retired_keys_open_and_removed_ones_do_not() {
        let old = sealer_of(3);
        let value = old.seal("id", &record()).unwrap();
        let rotated = Sealer::new(
            &Keyring::new(test_secret(1))
                .unwrap()
                .retired(test_secret(3))
                .unwrap(),
        );
        let opened = rotated.open("id", value.as_bytes()).unwrap();
        assert!(opened.retired);
        assert_eq!(opened.value.data["user"], "ferris");
        let resealed = rotated.seal("id", &opened.value).unwrap();
        assert!(!rotated.open("id", resealed.as_bytes()).unwrap().retired);
        assert_eq!(
            old.open("id", resealed.as_bytes()),
            Err(Rejection::BadTag),
            "re-sealed under the current key only"
        );
        assert_eq!(
            sealer().open("id", value.as_bytes()),
            Err(Rejection::BadTag)
        );
    }

    #[test]
    fn debug_shows_no_key() {
        assert_eq!(format!("{:?}", sealer()), "Sealer(..)");
    }

    /// The sealing keys are wiped when a sealer is dropped. Freed memory
    /// cannot be observed reliably; this checks the types instead.
    #[test]
    fn sealing_keys_zeroize_on_drop() {
        fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
        let sealer = sealer();
        zeroize_on_drop(&sealer.ciphers[0]);
        zeroize_on_drop(&derive_bytes(&test_secret(1), SEALING_LABEL));
    }
}
