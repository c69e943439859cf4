//! `keys`: keys that trip up naive implementations (empty, path-like, Unicode, NUL, long, near
//! each other) round-trip exactly. The drafts say only that a key is a string, so a store may
//! refuse a key with an error (the check is then skipped, naming the key); a key it accepts must
//! come back exactly.

use std::collections::HashMap;

use super::list::walk;
use crate::{Ctx, Fault, KvBucket, Outcome, call, clip, ensure, error, holds, missing};

/// The bucket the key checks use by default.
const BUCKET: &str = "conformance-keys";

/// Sets each of `keys` to a value of its own, checks that each holds it (all written before any
/// is read, so that keys that collide show), deletes them and checks they are gone.
fn round_trip<B: KvBucket>(ctx: &Ctx, keys: &[String]) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let value = |i: usize| format!("value of key #{i}").into_bytes();
    let mut refused = Vec::new();
    let mut accepted = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        match bucket.set(key, &value(i)) {
            Ok(()) => accepted.push((i, key)),
            Err(e) => refused.push(format!("set({}): {}", clip(key), error(&e))),
        }
    }
    for (i, key) in &accepted {
        holds(&bucket, key, &value(*i))?;
    }
    for (_, key) in &accepted {
        call(&format!("delete({})", clip(key)), bucket.delete(key))?;
    }
    for (_, key) in &accepted {
        missing(&bucket, key)?;
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(Fault::Skip(format!(
            "the store refused {} of {} keys (the drafts allow it): {}",
            refused.len(),
            keys.len(),
            refused.join("; ")
        )))
    }
}

fn strings(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

/// The empty key.
pub fn empty<B: KvBucket>(ctx: &Ctx) -> Outcome {
    round_trip::<B>(ctx, &strings(&[""]))
}

/// The empty key gets the same answer from every call that writes it: `set`, `set-many` and
/// `increment` all accept it (and then it holds what each wrote), or all refuse it. The drafts
/// let a store refuse a key (`keys.empty` reports that as `skip`), but a key is a key: a store
/// that refuses it in `set` and takes it in `set-many` or `increment` has one rule per call,
/// which the drafts do not allow for, so that is a `FAIL`.
pub fn empty_everywhere<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    let mut sort = |call: &str, result: Result<(), crate::Error>| match result {
        Ok(()) => accepted.push(call.to_owned()),
        Err(e) => refused.push(format!("{call} ({})", error(&e))),
    };
    let set = bucket.set("", b"by set");
    let held = set.is_ok().then(|| holds(&bucket, "", b"by set"));
    sort("set(\"\")", set);
    let set_many = bucket.set_many(&[(String::new(), b"by set-many".to_vec())]);
    let held_many = set_many.is_ok().then(|| holds(&bucket, "", b"by set-many"));
    sort("set-many([(\"\", ..)])", set_many);
    let _ = bucket.delete("");
    let increment = bucket.increment("", 7);
    let counted = increment.as_ref().ok().map(|&n| {
        ensure(n == 7, || {
            format!("increment(\"\", 7) of the deleted empty key: expected 7, got {n}")
        })
    });
    sort("increment(\"\", 7)", increment.map(|_| ()));
    let _ = bucket.delete("");
    if !accepted.is_empty() && !refused.is_empty() {
        return Err(Fault::Fail(format!(
            "the empty key is accepted by {} but refused by {}: one key, one rule",
            accepted.join(", "),
            refused.join(", ")
        )));
    }
    for check in [held, held_many, counted].into_iter().flatten() {
        check?;
    }
    if accepted.is_empty() {
        return Err(Fault::Skip(format!(
            "the store refuses the empty key in every call (the drafts allow it): {}",
            refused.join("; ")
        )));
    }
    Ok(())
}

/// Keys that look like paths: `/`, `..`, `a/../b`, `../../etc/passwd`, `./`, `a//b`, `\`.
pub fn slashes_and_dots<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let keys = [
        "/",
        "..",
        ".",
        "a/../b",
        "../../etc/passwd",
        "./",
        "a//b",
        "\\",
        "C:\\x",
    ];
    round_trip::<B>(ctx, &strings(&keys))
}

/// Keys outside ASCII: Cyrillic and an emoji, the last code point, a right-to-left mark.
pub fn unicode<B: KvBucket>(ctx: &Ctx) -> Outcome {
    round_trip::<B>(
        ctx,
        &strings(&["ключ🔑", "\u{10ffff}", "\u{200f}rtl", "日本語"]),
    )
}

/// Keys holding NUL.
pub fn nul<B: KvBucket>(ctx: &Ctx) -> Outcome {
    round_trip::<B>(ctx, &strings(&["\0", "a\0b", "nul\0"]))
}

/// Keys of 1,000 and 5,000 bytes.
pub fn long<B: KvBucket>(ctx: &Ctx) -> Outcome {
    round_trip::<B>(ctx, &["k".repeat(1000), "l".repeat(5000)])
}

/// Keys that differ only in case, Unicode normalization, a trailing space or NUL, or a prefix
/// are different keys.
pub fn distinct<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let keys = [
        "key", "Key", "KEY", "\u{e9}", "e\u{301}", "k", "k ", "k\0", "kk", " k",
    ];
    round_trip::<B>(ctx, &strings(&keys))
}

/// The odd keys come back from `list-keys` exactly as written, each once.
pub fn listed_as_written<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let before = walk(&bucket)?;
    let keys = [
        "",
        "/",
        "..",
        "a/../b",
        "\0",
        "ключ🔑",
        "Key",
        "key",
        "\u{e9}",
        "e\u{301}",
    ];
    let mut written = Vec::new();
    for key in keys {
        if bucket.set(key, b"listed").is_ok() {
            written.push(key.to_owned());
        }
    }
    let after = walk(&bucket)?;
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for key in &after {
        *counts.entry(key).or_default() += 1;
    }
    for key in &written {
        let n = counts.get(key).copied().unwrap_or(0);
        ensure(n == 1, || {
            format!(
                "list-keys walk: key {} was set and listed {n} times",
                clip(key)
            )
        })?;
    }
    for key in counts.keys() {
        ensure(written.contains(key) || before.contains(key), || {
            format!(
                "list-keys walk: listed {}, which was never set (a key altered on the way?)",
                clip(key)
            )
        })?;
    }
    let _ = bucket.delete_many(&written);
    if written.len() < keys.len() {
        return Err(Fault::Skip(format!(
            "the store refused {} of {} keys; those it accepted were listed exactly",
            keys.len() - written.len(),
            keys.len()
        )));
    }
    Ok(())
}
