//! How results appear in messages: keys, values and errors clipped to a readable length.

use std::fmt;

use crate::Error;

/// Most characters of a key or message a result line quotes.
const MAX_TEXT: usize = 40;
/// Most bytes of a value a result line quotes.
const MAX_BYTES: usize = 24;

/// `text` quoted; a long text is cut to its first characters, followed by its length.
pub fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX_TEXT).collect();
        format!("{head:?}... ({} bytes)", text.len())
    }
}

/// `value` for a message: quoted text if it is short UTF-8, else its length and first bytes.
pub fn bytes(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) if value.len() <= MAX_BYTES => format!("b{text:?}"),
        _ if value.len() <= MAX_BYTES => format!("{value:?}"),
        _ => format!("{} bytes starting {:?}", value.len(), &value[..MAX_BYTES]),
    }
}

/// An optional value for a message: `none` or `some(...)`.
pub fn option_bytes(value: Option<&[u8]>) -> String {
    match value {
        Some(value) => format!("some({})", bytes(value)),
        None => "none".to_owned(),
    }
}

/// A `wasi:keyvalue` error for a message, a long `other` message clipped.
pub fn error(e: &Error) -> String {
    match e {
        Error::NoSuchStore => "no-such-store".to_owned(),
        Error::AccessDenied => "access-denied".to_owned(),
        Error::Other(message) => format!("other({})", clip(message)),
    }
}

/// A cursor argument for a message: `none` or `some(...)`, clipped.
pub fn cursor<C: fmt::Debug>(cursor: Option<&C>) -> String {
    match cursor {
        Some(cursor) => {
            let text = format!("{cursor:?}");
            if text.chars().count() <= MAX_TEXT {
                format!("some({text})")
            } else {
                let head: String = text.chars().take(MAX_TEXT).collect();
                format!("some({head}... ({} bytes))", text.len())
            }
        }
        None => "none".to_owned(),
    }
}

/// A list of keys for a message: the first few, clipped, and how many there are.
pub fn keys<'a>(keys: impl IntoIterator<Item = &'a String>) -> String {
    let keys: Vec<&String> = keys.into_iter().collect();
    let shown: Vec<String> = keys.iter().take(3).map(|k| clip(k)).collect();
    if keys.len() > shown.len() {
        format!("[{}, ...] ({} keys)", shown.join(", "), keys.len())
    } else {
        format!("[{}]", shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_and_values_are_clipped() {
        assert_eq!(clip("key"), "\"key\"");
        assert!(clip(&"k".repeat(5000)).ends_with("(5000 bytes)"));
        assert_eq!(bytes(b"hi"), "b\"hi\"");
        assert_eq!(bytes(&[0xff]), "[255]");
        assert!(bytes(&[7; 1000]).starts_with("1000 bytes starting [7, 7"));
        assert_eq!(
            error(&Error::Other("x".repeat(100))).len(),
            "other(\"\"... (100 bytes))".len() + 40
        );
    }
}
