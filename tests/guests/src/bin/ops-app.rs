//! A `wasi:cli` command that reads `wasi:keyvalue` operations from stdin, one per line, runs
//! each against the imported interface and prints one result line per operation. It is the
//! component half of the model-based test (`tests/e2e/model.rs`), which runs the same
//! operations natively on the storage core and compares the output line by line. It never
//! panics on an error result: it prints it.
//!
//! Tokens are separated by one space. `X` is bytes in lowercase hex after an `x` (`x` is empty,
//! `x2f` is `/`), so that any key round-trips; keys and bucket names must be UTF-8. `S` is a
//! bucket slot and `H` a `cas` handle, both decimal indices; a list is `X,X,...`, or `-` when
//! empty. Operations (draft2 unless said):
//!
//! | line                     | calls                                           | prints                     |
//! |--------------------------|-------------------------------------------------|----------------------------|
//! | `open S X`               | `store.open`, into slot `S` (replacing it)      | `ok`                       |
//! | `get S X`                | `bucket.get`                                    | `some X` or `none`         |
//! | `set S X X`              | `bucket.set`                                    | `ok`                       |
//! | `delete S X`             | `bucket.delete`                                 | `ok`                       |
//! | `exists S X`             | `bucket.exists`                                 | `true` or `false`          |
//! | `list S FROM`            | `bucket.list-keys`; the cursor returned is kept per slot | `keys LIST more` or `keys LIST end` |
//! | `incs S X DELTA`         | `atomics.increment` (`s64`)                     | `s64 N`                    |
//! | `incu S X DELTA`         | draft: `store.open` of the slot's bucket name, `increment` (`u64`) | `u64 N` |
//! | `get-many S LIST`        | `batch.get-many`                                | `many` and ` X=X` or ` none` per key |
//! | `set-many S X=X,...`     | `batch.set-many` (`-`: none)                    | `ok`                       |
//! | `delete-many S LIST`     | `batch.delete-many`                             | `ok`                       |
//! | `fill S N X`             | `batch.set-many` of `N` keys `X0`, `X1`.. with empty values | `ok`           |
//! | `cas-new S X`            | `cas.new`; the handle gets the next index `H`   | `cas H`                    |
//! | `cas-current H`          | `cas.current`                                   | `some X` or `none`         |
//! | `cas-swap H X`           | `swap`; `cas-failed` hands the handle back, anything else consumes it | `swapped` or `cas-failed` |
//! | `cas-drop H`             | drops the handle                                | `ok`                       |
//!
//! `FROM` is `start` (no cursor), `next` (the slot's cursor), `of:S` (slot `S`'s cursor) or
//! `text:X` (a cursor spelled out). A slot's cursor is the one its last `list-keys` returned
//! (none after an error); `next` or `of:S` with no cursor to pass prints `no-cursor` and calls
//! nothing. An error prints as
//! `err other`, `err no-such-store` or `err access-denied` (the message goes to stderr); a slot
//! never opened prints `no-bucket`, a handle that does not exist `no-handle`, and a line that
//! does not parse `bad-line`.

use std::io::{BufRead, Write};

use bindings::wasi::keyvalue0_2_0_draft as draft;
use bindings::wasi::keyvalue0_2_0_draft2::{atomics, batch, store};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package keyvalue-virt:tests;
            world ops {
                include wasi:keyvalue/imports@0.2.0-draft;
                include wasi:keyvalue/imports@0.2.0-draft2;
            }
        ",
        path: [
            "../../wit/deps/keyvalue-0.2.0-draft",
            "../../wit/deps/keyvalue-0.2.0-draft2",
        ],
        world: "keyvalue-virt:tests/ops",
        generate_all,
    });
}

/// An open bucket: its name (for draft's `open`), its handle and the cursor its last
/// `list-keys` returned.
struct Slot {
    name: String,
    bucket: store::Bucket,
    cursor: Option<String>,
}

#[derive(Default)]
struct State {
    slots: Vec<Option<Slot>>,
    handles: Vec<Option<atomics::Cas>>,
}

fn main() {
    let mut state = State::default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in std::io::stdin().lock().lines() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("failed to read stdin: {e}");
                break;
            }
        };
        let result = state.run(&line).unwrap_or_else(|| "bad-line".to_owned());
        if writeln!(out, "{result}").is_err() {
            break;
        }
    }
    let _ = out.flush();
}

impl State {
    /// Runs one line; `None` if it does not parse.
    fn run(&mut self, line: &str) -> Option<String> {
        let mut words = line.split(' ');
        let op = words.next()?;
        let args: Vec<&str> = words.collect();
        let arg = |i: usize| args.get(i).copied();
        if op.starts_with("cas-") && op != "cas-new" {
            let h: usize = arg(0)?.parse().ok()?;
            let Some(cas) = self.handles.get_mut(h).and_then(Option::take) else {
                return Some("no-handle".to_owned());
            };
            return Some(match op {
                "cas-current" => {
                    let result = show(cas.current().map(value));
                    self.handles[h] = Some(cas);
                    result
                }
                "cas-swap" => match atomics::swap(cas, &hex(arg(1)?)?) {
                    Ok(()) => "swapped".to_owned(),
                    Err(atomics::CasError::CasFailed(cas)) => {
                        self.handles[h] = Some(cas);
                        "cas-failed".to_owned()
                    }
                    Err(atomics::CasError::StoreError(e)) => error(e),
                },
                "cas-drop" => "ok".to_owned(),
                _ => {
                    self.handles[h] = Some(cas);
                    return None;
                }
            });
        }

        let s: usize = arg(0)?.parse().ok()?;
        if op == "open" {
            let name = text(arg(1)?)?;
            if self.slots.len() <= s {
                self.slots.resize_with(s + 1, || None);
            }
            self.slots[s] = None;
            return Some(show(store::open(&name).map(|bucket| {
                self.slots[s] = Some(Slot {
                    name,
                    bucket,
                    cursor: None,
                });
                "ok".to_owned()
            })));
        }
        // Another slot's cursor, read before this slot is borrowed.
        let cursor_of = |slots: &[Option<Slot>], t: usize| {
            slots
                .get(t)
                .and_then(Option::as_ref)
                .and_then(|slot| slot.cursor.clone())
        };
        let other_cursor = match (op, arg(1).and_then(|from| from.strip_prefix("of:"))) {
            ("list", Some(t)) => Some(cursor_of(&self.slots, t.parse().ok()?)),
            _ => None,
        };
        let Some(slot) = self.slots.get_mut(s).and_then(Option::as_mut) else {
            return Some("no-bucket".to_owned());
        };
        let bucket = &slot.bucket;
        Some(match op {
            "get" => show(bucket.get(&text(arg(1)?)?).map(value)),
            "set" => show(bucket.set(&text(arg(1)?)?, &hex(arg(2)?)?).map(ok)),
            "delete" => show(bucket.delete(&text(arg(1)?)?).map(ok)),
            "exists" => show(bucket.exists(&text(arg(1)?)?).map(|b| b.to_string())),
            "list" => {
                let from = arg(1)?;
                let cursor = match from {
                    "start" => None,
                    "next" => match slot.cursor.take() {
                        Some(cursor) => Some(cursor),
                        None => return Some("no-cursor".to_owned()),
                    },
                    _ => match (other_cursor, from.strip_prefix("text:")) {
                        (Some(Some(cursor)), _) => Some(cursor),
                        (Some(None), _) => return Some("no-cursor".to_owned()),
                        (None, Some(x)) => Some(text(x)?),
                        (None, None) => return None,
                    },
                };
                match bucket.list_keys(cursor.as_deref()) {
                    Ok(page) => {
                        slot.cursor = page.cursor.clone();
                        let end = if page.cursor.is_some() { "more" } else { "end" };
                        format!("keys {} {end}", list(page.keys.iter().map(enhex)))
                    }
                    Err(e) => {
                        slot.cursor = None;
                        error(e)
                    }
                }
            }
            "incs" => {
                let delta: i64 = arg(2)?.parse().ok()?;
                show(atomics::increment(bucket, &text(arg(1)?)?, delta).map(|n| format!("s64 {n}")))
            }
            "incu" => {
                let key = text(arg(1)?)?;
                let delta: u64 = arg(2)?.parse().ok()?;
                match draft::store::open(&slot.name) {
                    Ok(old) => show_draft(
                        draft::atomics::increment(&old, &key, delta).map(|n| format!("u64 {n}")),
                    ),
                    Err(e) => draft_error(e),
                }
            }
            "get-many" => {
                let keys = keys(arg(1)?)?;
                show(batch::get_many(bucket, &keys).map(|pairs| {
                    let mut line = "many".to_owned();
                    for pair in pairs {
                        line.push(' ');
                        match pair {
                            Some((k, v)) => line.push_str(&format!("{}={}", enhex(&k), enhex(&v))),
                            None => line.push_str("none"),
                        }
                    }
                    line
                }))
            }
            "set-many" => {
                let arg = arg(1)?;
                let mut pairs = Vec::new();
                if arg != "-" {
                    for item in arg.split(',') {
                        let (k, v) = item.split_once('=')?;
                        pairs.push((text(k)?, hex(v)?));
                    }
                }
                show(batch::set_many(bucket, &pairs).map(ok))
            }
            "delete-many" => show(batch::delete_many(bucket, &keys(arg(1)?)?).map(ok)),
            "fill" => {
                let n: usize = arg(1)?.parse().ok()?;
                let prefix = text(arg(2)?)?;
                let pairs: Vec<(String, Vec<u8>)> = (0..n)
                    .map(|i| (format!("{prefix}{i}"), Vec::new()))
                    .collect();
                show(batch::set_many(bucket, &pairs).map(ok))
            }
            "cas-new" => match atomics::Cas::new(bucket, &text(arg(1)?)?) {
                Ok(cas) => {
                    self.handles.push(Some(cas));
                    format!("cas {}", self.handles.len() - 1)
                }
                Err(e) => error(e),
            },
            _ => return None,
        })
    }
}

fn ok(_: ()) -> String {
    "ok".to_owned()
}

fn value(value: Option<Vec<u8>>) -> String {
    match value {
        Some(v) => format!("some {}", enhex(&v)),
        None => "none".to_owned(),
    }
}

fn show(result: Result<String, store::Error>) -> String {
    result.unwrap_or_else(error)
}

fn error(e: store::Error) -> String {
    let case = match e {
        store::Error::NoSuchStore => "no-such-store",
        store::Error::AccessDenied => "access-denied",
        store::Error::Other(message) => {
            eprintln!("other: {message}");
            "other"
        }
    };
    format!("err {case}")
}

fn show_draft(result: Result<String, draft::store::Error>) -> String {
    result.unwrap_or_else(draft_error)
}

fn draft_error(e: draft::store::Error) -> String {
    let case = match e {
        draft::store::Error::NoSuchStore => "no-such-store",
        draft::store::Error::AccessDenied => "access-denied",
        draft::store::Error::Other(message) => {
            eprintln!("other: {message}");
            "other"
        }
    };
    format!("err {case}")
}

/// `x` followed by the bytes in lowercase hex.
fn enhex(bytes: impl AsRef<[u8]>) -> String {
    let mut out = String::from("x");
    for b in bytes.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The bytes of an `x`-prefixed hex token.
fn hex(token: &str) -> Option<Vec<u8>> {
    let digits = token.strip_prefix('x')?.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// The UTF-8 text of an `x`-prefixed hex token.
fn text(token: &str) -> Option<String> {
    String::from_utf8(hex(token)?).ok()
}

/// A `-` or comma-separated list of keys.
fn keys(token: &str) -> Option<Vec<String>> {
    if token == "-" {
        return Some(Vec::new());
    }
    token.split(',').map(text).collect()
}

fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}
