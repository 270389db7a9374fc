//! Serializing a value to JSON text in a buffer kept per thread, so that an
//! insert does not allocate a `String` it copies once and drops.

use std::cell::RefCell;

use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// A buffer grown past this is dropped after use rather than kept.
const KEEP_AT_MOST: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Serializes `value` as compact JSON and hands the text to `use_json`.
///
/// The text is written into this thread's buffer, which stays allocated
/// between calls (up to [`KEEP_AT_MOST`] bytes). A `Serialize` impl that
/// itself inserts (so the buffer is in use) gets a fresh buffer instead.
pub(crate) fn with_json<T: Serialize + ?Sized, R>(
    value: &T,
    use_json: impl FnOnce(&str) -> R,
) -> Result<R, Error> {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buffer) => {
            buffer.clear();
            let result = write_json(&mut buffer, value).map(use_json);
            if buffer.capacity() > KEEP_AT_MOST {
                *buffer = Vec::new();
            }
            result
        }
        Err(_) => write_json(&mut Vec::new(), value).map(use_json),
    })
}

fn write_json<'b, T: Serialize + ?Sized>(
    buffer: &'b mut Vec<u8>,
    value: &T,
) -> Result<&'b str, Error> {
    serde_json::to_writer(&mut *buffer, value)?;
    // serde_json writes UTF-8; checked, as the buffer is plain bytes.
    std::str::from_utf8(buffer).map_err(|err| {
        Error::new(ErrorKind::Serialization, "session value is not UTF-8 JSON").with_source(err)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value that, while it is serialized, serializes another one (as a
    /// `Serialize` impl that inserts into the session would).
    struct Nested;

    impl Serialize for Nested {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let inner = with_json(&"inner", str::to_owned).expect("the inner value serializes");
            serializer.serialize_str(&inner)
        }
    }

    #[test]
    fn text_is_what_serde_json_writes() {
        let value = serde_json::json!({"a": [1, "é\"\\n"], "b": null});
        let text = with_json(&value, str::to_owned).unwrap();
        assert_eq!(text, serde_json::to_string(&value).unwrap());
        assert_eq!(
            with_json(&3, str::to_owned).unwrap(),
            "3",
            "the buffer starts empty"
        );
    }

    #[test]
    fn a_value_serialized_while_serializing_gets_its_own_buffer() {
        let text = with_json(&Nested, str::to_owned).unwrap();
        assert_eq!(text, r#""\"inner\"""#);
    }

    #[test]
    fn a_large_value_is_not_kept() {
        let large = "x".repeat(KEEP_AT_MOST * 2);
        assert_eq!(with_json(&large, str::len).unwrap(), large.len() + 2);
        SCRATCH.with(|scratch| assert!(scratch.borrow().capacity() <= KEEP_AT_MOST));
    }

    #[test]
    fn a_failed_serialization_is_an_error() {
        let map: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let err = with_json(&map, str::to_owned).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Serialization);
    }
}
