//! Reading `SESSIONWARE_*` values: secrets as hex or base64 into wiped
//! buffers, booleans, `SameSite`, durations, and errors that name the
//! variable but never a secret.

use std::env::VarError;
use std::time::Duration;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cookie::SameSite;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::token::{Keyring, MAX_RETIRED_SECRETS};

/// The variable holding the current secret.
pub(crate) const SECRET: &str = "SESSIONWARE_SECRET";
/// The variable holding the retired secrets.
pub(crate) const OLD_SECRETS: &str = "SESSIONWARE_OLD_SECRETS";

/// The message of every error about one variable; the detail names it.
pub(crate) const INVALID: &str = "invalid environment variable";

pub(crate) const EXPECTED_SECRET: &str = "expected hex (an even number of digits 0-9, a-f) or base64 \
     (standard or URL-safe alphabet, padding optional)";
pub(crate) const EXPECTED_BOOL: &str = "expected true, false, 1, 0, yes or no";
pub(crate) const EXPECTED_SAME_SITE: &str = "expected strict, lax or none";
pub(crate) const EXPECTED_DURATION: &str = "expected a whole number of seconds, or a whole number with \
     one of the units ms, s, m, h, d (for example 30m)";

/// Base64 decoders that accept padded and unpadded text alike.
const ANY_PADDING: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, ANY_PADDING);
const BASE64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, ANY_PADDING);

/// An [`ErrorKind::InvalidConfig`] about one variable; `detail` starts with its name.
pub(crate) fn invalid(detail: String) -> Error {
    Error::new(ErrorKind::InvalidConfig, INVALID).with_detail(detail)
}

/// `err`, of the same kind, attributed to the variable `name`.
pub(crate) fn named(name: &str, err: &Error) -> Error {
    Error::new(err.kind(), INVALID).with_detail(format!("{name}: {err}"))
}

pub(crate) fn missing_secret() -> Error {
    invalid(format!(
        "{SECRET} is not set: set it to 64 random bytes as hex or base64 (for example \
         `openssl rand -hex 64`); for local development only, build the layer with \
         `sessionware::insecure_dev_secret()` instead"
    ))
}

/// A non-secret value as it appears in an error: quoted, escaped, and cut at 64 characters.
pub(crate) fn quoted(text: &str) -> String {
    const SHOWN: usize = 64;
    let cut: String = text.chars().take(SHOWN).collect();
    if cut.len() < text.len() {
        format!("{cut:?}...")
    } else {
        format!("{cut:?}")
    }
}

/// One variable of the process environment; a value that is not UTF-8 is an error.
pub(crate) fn env_value(
    name: &str,
    value: Result<String, VarError>,
) -> Result<Option<String>, Error> {
    match value {
        Ok(value) => Ok(Some(value)),
        Err(VarError::NotPresent) => Ok(None),
        Err(VarError::NotUnicode(_)) => Err(invalid(format!("{name} is not valid UTF-8"))),
    }
}

/// The keyring of `SESSIONWARE_SECRET` and `SESSIONWARE_OLD_SECRETS`. No
/// error carries a secret's text, not even as a source.
pub(crate) fn keyring(secret: &str, old: Option<&str>) -> Result<Keyring, Error> {
    let mut keyring =
        Keyring::new(decode_secret(SECRET, secret)?).map_err(|e| named(SECRET, &e))?;
    let Some(old) = old else {
        return Ok(keyring);
    };
    let entries: Vec<&str> = old.split(',').map(str::trim).collect();
    let total = entries.len();
    if total > MAX_RETIRED_SECRETS {
        return Err(invalid(format!(
            "{OLD_SECRETS}: at most {MAX_RETIRED_SECRETS} retired secrets, got {total}"
        )));
    }
    for (index, entry) in entries.into_iter().enumerate() {
        let name = format!("{OLD_SECRETS}[{}] (of {total}, counting from 1)", index + 1);
        if entry.is_empty() {
            return Err(invalid(format!(
                "{name} is empty: separate retired secrets by single commas"
            )));
        }
        keyring = keyring
            .retired(decode_secret(&name, entry)?)
            .map_err(|e| named(&name, &e))?;
    }
    Ok(keyring)
}

/// A secret variable's value, trimmed in place, in a buffer wiped when
/// dropped; `None` if it is not set or blank.
pub(crate) fn secret_text(value: Option<String>) -> Option<Zeroizing<String>> {
    let mut text = Zeroizing::new(value?);
    let end = text.trim_end().len();
    text.truncate(end);
    let start = text.len() - text.trim_start().len();
    text.drain(..start);
    (!text.is_empty()).then_some(text)
}

/// Decodes a secret written as hex or base64, into a buffer wiped when
/// dropped (as is any partial output of a failed decoding). Errors give its
/// length, never its text.
pub(crate) fn decode_secret(name: &str, text: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let len = text.chars().count();
    if text.bytes().all(|b| b.is_ascii_hexdigit()) {
        if len % 2 == 1 {
            return Err(invalid(format!(
                "{name}: hex needs an even number of digits, got {len} (is it truncated?)"
            )));
        }
        let digit = |b: u8| char::from(b).to_digit(16).unwrap_or(0) as u8;
        let pairs = text.as_bytes().chunks_exact(2);
        return Ok(Zeroizing::new(
            pairs.map(|p| (digit(p[0]) << 4) | digit(p[1])).collect(),
        ));
    }
    let mut bytes = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(text.len())]);
    // Neither decoder's error is kept: it would quote a character of the secret.
    let decoded = BASE64_STANDARD
        .decode_slice(text, &mut bytes)
        .or_else(|_| BASE64_URL_SAFE.decode_slice(text, &mut bytes))
        .map_err(|_| invalid(format!("{name}: {EXPECTED_SECRET}; got {len} characters")))?;
    bytes.truncate(decoded);
    Ok(bytes)
}

pub(crate) fn parse_bool(text: String) -> Result<bool, &'static str> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(EXPECTED_BOOL),
    }
}

pub(crate) fn parse_same_site(text: String) -> Result<SameSite, &'static str> {
    match text.to_ascii_lowercase().as_str() {
        "strict" => Ok(SameSite::Strict),
        "lax" => Ok(SameSite::Lax),
        "none" => Ok(SameSite::None),
        _ => Err(EXPECTED_SAME_SITE),
    }
}

/// `90`, `90s`, `500ms`, `30m`, `12h`, `7d`; zero is refused.
pub(crate) fn parse_duration(text: String) -> Result<Duration, &'static str> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let count: u64 = digits.parse().map_err(|_| EXPECTED_DURATION)?;
    let seconds = |factor: u64| count.checked_mul(factor).map(Duration::from_secs);
    let duration = match unit.trim_start() {
        "ms" => Some(Duration::from_millis(count)),
        "" | "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(60 * 60),
        "d" => seconds(24 * 60 * 60),
        _ => return Err(EXPECTED_DURATION),
    };
    match duration {
        None => Err("the duration is too large"),
        Some(duration) if duration.is_zero() => Err("expected a duration longer than zero"),
        Some(duration) => Ok(duration),
    }
}
