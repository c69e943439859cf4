//! The trace's JSON lines (`--trace=json`), written by hand: the component carries no JSON
//! library, and a line needs only strings, numbers, booleans and lists.
//!
//! A line is one JSON object on one line, and always starts with [`START`], so that a tool
//! can tell it from the app's own output on the same stream by its first bytes:
//!
//! ```text
//! {"keyvalue-virt":1,"op":"set","bucket":"b","keys":["k"],"sizes":[2],"result":"ok"}
//! ```
//!
//! Its members, in this order: `op` (as `--fail` names it); `bucket`; `keys`, every key the
//! call named (none for `open` and `list-keys`); `sizes`, the sizes of the values written, one
//! per key (`set`, `swap`, `set-many` only); `result`, the case of the control interface's
//! `outcome`, with its payload: `ok`; `value` and `size`; `none`; `flag` and `flag`; `number`
//! and `number`; `page`, `count` and `more`; `values` and `found` (a size or `null` per key);
//! `failed`, `error` (the `wasi:keyvalue` error case) and `message`.

use core::fmt::Write;

use crate::error::Error;
use crate::policy::{Outcome, Target};
use crate::prelude::*;

/// How every line starts: the object's first member names keyvalue-virt and the version of
/// the line's format.
pub const START: &str = "{\"keyvalue-virt\":1,";

/// Appends `text` to `out` as a JSON string: quoted, with `"`, `\` and the control characters
/// escaped (other characters, ASCII or not, as they are: the line is UTF-8).
pub fn string(out: &mut String, text: &str) {
    out.push('"');
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ') {
        out.push_str(&rest[..at]);
        let c = rest[at..].chars().next().unwrap_or('\0');
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
        }
        rest = &rest[at + c.len_utf8()..];
    }
    out.push_str(rest);
    out.push('"');
}

/// The start of the line of `op` on `bucket` naming `target`, up to the result.
pub fn start(op: &str, bucket: &str, target: Target<'_>) -> String {
    let mut line = String::from(START);
    line.push_str("\"op\":\"");
    line.push_str(op);
    line.push_str("\",\"bucket\":");
    string(&mut line, bucket);
    line.push_str(",\"keys\":[");
    let mut sizes = None;
    match target {
        Target::Bucket => {}
        Target::Key(key) => string(&mut line, key),
        Target::Write(key, len) => {
            string(&mut line, key);
            sizes = Some(vec![len]);
        }
        Target::Keys(keys) => list(&mut line, keys.iter(), |line, key| string(line, key)),
        Target::Pairs(pairs) => {
            list(&mut line, pairs.iter(), |line, (key, _)| string(line, key));
            sizes = Some(pairs.iter().map(|(_, value)| value.len()).collect());
        }
    }
    line.push(']');
    if let Some(sizes) = sizes {
        line.push_str(",\"sizes\":[");
        list(&mut line, sizes.iter(), |line, size| {
            let _ = write!(line, "{size}");
        });
        line.push(']');
    }
    line
}

/// Ends `line` with the call's result and a newline.
pub fn finish(mut line: String, result: Result<&dyn Outcome, &Error>) -> String {
    line.push_str(",\"result\":");
    match result {
        Ok(value) => value.json(&mut line),
        Err(error) => {
            line.push_str("\"failed\",\"error\":\"");
            line.push_str(error.case_name());
            line.push_str("\",\"message\":");
            string(&mut line, &error.to_string());
        }
    }
    line.push_str("}\n");
    line
}

/// Appends `items` to `out`, separated by commas, each written by `item`.
pub fn list<T>(out: &mut String, items: impl Iterator<Item = T>, item: impl Fn(&mut String, T)) {
    for (i, value) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        item(out, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(text: &str) -> String {
        let mut out = String::new();
        string(&mut out, text);
        out
    }

    #[test]
    fn strings_escape_quotes_backslashes_and_control_characters() {
        assert_eq!(quoted(""), "\"\"");
        assert_eq!(quoted("plain"), "\"plain\"");
        assert_eq!(quoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(
            quoted("\n\r\t\0\x1f\x7f"),
            "\"\\n\\r\\t\\u0000\\u001f\x7f\""
        );
        assert_eq!(quoted("clé 日本 😀"), "\"clé 日本 😀\"");
        assert_eq!(quoted("\u{8}\u{c}"), "\"\\u0008\\u000c\"");
    }

    #[test]
    fn lines_name_every_key_and_size() {
        let pairs = vec![("x".to_owned(), vec![1, 2]), ("y\"".to_owned(), vec![])];
        assert_eq!(
            finish(start("set-many", "b", Target::Pairs(&pairs)), Ok(&())),
            "{\"keyvalue-virt\":1,\"op\":\"set-many\",\"bucket\":\"b\",\"keys\":[\"x\",\"y\\\"\"],\
             \"sizes\":[2,0],\"result\":\"ok\"}\n"
        );
        assert_eq!(
            finish(start("open", "", Target::Bucket), Err(&Error::ReadOnly)),
            "{\"keyvalue-virt\":1,\"op\":\"open\",\"bucket\":\"\",\"keys\":[],\"result\":\
             \"failed\",\"error\":\"access-denied\",\"message\":\"the store is read-only \
             (--read-only)\"}\n"
        );
    }
}
