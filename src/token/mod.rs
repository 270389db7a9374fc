//! Session tokens: the random value, the keys, the tag, and the store key.
//!
//! A cookie value is `<43 base64url chars of 256 random bits>.<43 chars of
//! HMAC-SHA256 tag>`. The tag covers the cookie name and the value under a key
//! derived by HKDF from the application secret. Stores file the session under
//! [`SessionKey`], the SHA-256 digest of the random bits.

mod find;
mod handle;
mod id;
mod key;
#[cfg(feature = "cookie-store")]
mod seal;
mod sign;
mod store_key;
mod strength;

#[cfg(feature = "cookie-store")]
pub(crate) use find::find_with;
pub(crate) use find::{Presented, TokenHeaders, Transport, Verified, find};
pub use handle::SessionHandle;
pub(crate) use id::RandomValue;
#[cfg(feature = "cookie-store")]
pub(crate) use id::fill_random;
#[cfg(test)]
pub(crate) use key::test_secret;
pub use key::{Keyring, MAX_RETIRED_SECRETS, MIN_SECRET_LEN};
#[cfg(feature = "cookie-store")]
pub use seal::MAX_COOKIE_LEN;
#[cfg(feature = "cookie-store")]
pub(crate) use seal::Sealer;
pub(crate) use sign::{Rejection, Signed, sign};
pub use store_key::SessionKey;
