//! A `wasi:cli` command that runs the `wasi:keyvalue` operations given as its arguments, one per
//! argument, and prints one line per operation: the argument, ` -> `, and the result. It never
//! panics on an error result, so the end-to-end tests can check what a configured keyvalue-virt
//! returns, operation by operation. It speaks draft2, plus two draft operations.
//!
//! Operations (`B` a bucket, without `:`; `K` a key; `V` a value, as UTF-8 text):
//!
//! | argument                     | calls (draft2 unless said)                             |
//! |------------------------------|--------------------------------------------------------|
//! | `open:B`                     | `store.open`; on success its handle serves later ops   |
//! | `get:B:K`                    | `bucket.get`                                           |
//! | `set:B:K=V`                  | `bucket.set` (`K` without `=`)                         |
//! | `delete:B:K`                 | `bucket.delete`                                        |
//! | `exists:B:K`                 | `bucket.exists`                                        |
//! | `list:B`                     | `bucket.list-keys` until the cursor is `none`          |
//! | `list-from:B:C`              | one `bucket.list-keys` from the cursor `C`             |
//! | `inc:B:K:DELTA`              | `atomics.increment` (`s64`)                            |
//! | `get-many:B:K1,K2`           | `batch.get-many` (`get-many:B:` is the empty list)     |
//! | `set-many:B:K1=V1,K2=V2`     | `batch.set-many`                                       |
//! | `delete-many:B:K1,K2`        | `batch.delete-many`                                    |
//! | `cas:B:K=V`                  | `cas.new`, `cas.current`, `swap`                       |
//! | `fill:B:PREFIX:COUNT:SIZE`   | `set` of `PREFIX0`.. with `SIZE`-byte values, in order |
//! | `draft-inc:B:K:DELTA`        | draft: `store.open(B)`, then `increment` (`u64`)       |
//! | `draft-get-many:B:K1,K2`     | draft: `store.open(B)`, then `get-many`                |
//! | `draft-list-from:B:N`        | draft: `store.open(B)`, then `list-keys` from `N`      |
//! | `sleep:MS`                   | nothing: waits `MS` milliseconds (an idle gap)         |
//! | `wait-file:PATH`             | nothing: waits until the file `PATH` exists (a gate the test opens) |
//!
//! A draft2 bucket is opened (and its `open` printed) only by `open:B`, or implicitly the first
//! time another operation names `B`; an implicit `open` that fails prints `ARG -> open error
//! ...` instead of running the operation. The `draft-` operations open `B` on every call.
//!
//! Output: `ARG -> ok` followed by the result, if any: ` "VALUE"` (bytes escaped as by
//! `escape_ascii`; a value over 64 bytes as ` (N bytes, fnv1a64 HEX)`), ` none`, ` true`,
//! ` 42`, ` ["k1", "k2"]` (list, sorted), ` [("k1", "V1"), none]` (get-many), ` ["k1"] next
//! C` (`list-from`: one page as returned, and its cursor, if any). Errors print as
//! `ARG -> error no-such-store`, `-> error access-denied` or `-> error other: MESSAGE` (the
//! message as is). `cas` prints each stage until one fails: `-> new ok, current ok "V", swap
//! ok`, or for example `-> new ok, current ok none, swap error access-denied`. `fill` prints
//! `-> ok`, or `-> error at "KEY": ERROR` for the first write that fails. An argument over 100
//! bytes is echoed as its first 40 characters and its length.
//!
//! A malformed argument panics with this syntax: that is a bug in the test, not a result.

use std::collections::HashMap;

use bindings::wasi::keyvalue0_2_0_draft as draft;
use bindings::wasi::keyvalue0_2_0_draft2::{atomics, batch, store};

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package keyvalue-virt:tests;
            world probe {
                include wasi:keyvalue/imports@0.2.0-draft;
                include wasi:keyvalue/imports@0.2.0-draft2;
            }
        ",
        path: [
            "../../wit/deps/keyvalue-0.2.0-draft",
            "../../wit/deps/keyvalue-0.2.0-draft2",
        ],
        world: "keyvalue-virt:tests/probe",
        generate_all,
    });
}

const USAGE: &str = "usage: probe OP...; OP is one of open:B, get:B:K, set:B:K=V, delete:B:K, \
    exists:B:K, list:B, list-from:B:C, inc:B:K:DELTA, draft-inc:B:K:DELTA, \
    draft-get-many:B:K1,K2, draft-list-from:B:N, \
    get-many:B:K1,K2, set-many:B:K1=V1,K2=V2, delete-many:B:K1,K2, cas:B:K=V, \
    fill:B:PREFIX:COUNT:SIZE, sleep:MS";

fn main() {
    let mut buckets = HashMap::new();
    for arg in std::env::args().skip(1) {
        let result = run(&mut buckets, &arg);
        println!("{} -> {result}", echo(&arg));
    }
}

/// Runs one operation and returns what follows `->`.
fn run(buckets: &mut HashMap<String, store::Bucket>, arg: &str) -> String {
    let (op, rest) = arg.split_once(':').unwrap_or_else(|| bad(arg));
    if op == "sleep" {
        let ms = rest.parse().unwrap_or_else(|_| bad(arg));
        std::thread::sleep(std::time::Duration::from_millis(ms));
        return "ok".to_owned();
    }
    if op == "wait-file" {
        // No time limit: the test creates the file once what the app must wait for is done.
        while std::fs::metadata(rest).is_err() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        return "ok".to_owned();
    }
    if op == "open" {
        return match store::open(rest) {
            Ok(bucket) => {
                buckets.insert(rest.to_owned(), bucket);
                "ok".to_owned()
            }
            Err(e) => error(&e),
        };
    }
    let (name, rest) = match op {
        "list" => (rest, ""),
        _ => rest.split_once(':').unwrap_or_else(|| bad(arg)),
    };
    if let Some(op) = op.strip_prefix("draft-") {
        let bucket = match draft::store::open(name) {
            Ok(bucket) => bucket,
            Err(e) => return format!("open {}", error(&from_draft(e))),
        };
        return match op {
            "inc" => {
                let (key, delta) = rest.rsplit_once(':').unwrap_or_else(|| bad(arg));
                let delta = delta.parse().unwrap_or_else(|_| bad(arg));
                let result = draft::atomics::increment(&bucket, key, delta);
                done(result.map_err(from_draft), |n| format!(" {n}"))
            }
            "get-many" => {
                let result = draft::batch::get_many(&bucket, &keys(rest));
                done(result.map_err(from_draft), |entries| show_entries(&entries))
            }
            "list-from" => {
                let cursor = rest.parse().unwrap_or_else(|_| bad(arg));
                let result = bucket.list_keys(Some(cursor)).map_err(from_draft);
                done(result, |page| show_page(&page.keys, page.cursor))
            }
            _ => bad(arg),
        };
    }
    if !buckets.contains_key(name) {
        match store::open(name) {
            Ok(bucket) => buckets.insert(name.to_owned(), bucket),
            Err(e) => return format!("open {}", error(&e)),
        };
    }
    let bucket = &buckets[name];
    match op {
        "get" => done(bucket.get(rest), |v| show_opt(v.as_deref())),
        "set" => {
            let (key, value) = pair(arg, rest);
            done(bucket.set(&key, &value), |()| String::new())
        }
        "delete" => done(bucket.delete(rest), |()| String::new()),
        "exists" => done(bucket.exists(rest), |found| format!(" {found}")),
        "list" => done(list(bucket), |keys| format!(" {keys:?}")),
        "list-from" => done(bucket.list_keys(Some(rest)), |page| {
            show_page(&page.keys, page.cursor)
        }),
        "inc" => {
            let (key, delta) = rest.rsplit_once(':').unwrap_or_else(|| bad(arg));
            let delta = delta.parse().unwrap_or_else(|_| bad(arg));
            done(atomics::increment(bucket, key, delta), |n| format!(" {n}"))
        }
        "get-many" => done(batch::get_many(bucket, &keys(rest)), |entries| {
            show_entries(&entries)
        }),
        "set-many" => {
            let pairs: Vec<_> = keys(rest).iter().map(|item| pair(arg, item)).collect();
            done(batch::set_many(bucket, &pairs), |()| String::new())
        }
        "delete-many" => done(batch::delete_many(bucket, &keys(rest)), |()| String::new()),
        "cas" => {
            let (key, value) = pair(arg, rest);
            cas(bucket, &key, &value)
        }
        "fill" => fill(bucket, arg, rest),
        _ => bad(arg),
    }
}

/// Every key of `bucket`, sorted.
fn list(bucket: &store::Bucket) -> Result<Vec<String>, store::Error> {
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = bucket.list_keys(cursor.as_deref())?;
        keys.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    keys.sort();
    Ok(keys)
}

fn cas(bucket: &store::Bucket, key: &str, value: &[u8]) -> String {
    let cas = match atomics::Cas::new(bucket, key) {
        Ok(cas) => cas,
        Err(e) => return format!("new {}", error(&e)),
    };
    let current = match cas.current() {
        Ok(current) => show_opt(current.as_deref()),
        Err(e) => return format!("new ok, current {}", error(&e)),
    };
    let swap = match atomics::swap(cas, value) {
        Ok(()) => "ok".to_owned(),
        Err(atomics::CasError::CasFailed(_)) => "cas-failed".to_owned(),
        Err(atomics::CasError::StoreError(e)) => error(&e),
    };
    format!("new ok, current ok{current}, swap {swap}")
}

fn fill(bucket: &store::Bucket, arg: &str, rest: &str) -> String {
    let mut parts = rest.rsplitn(3, ':');
    let (Some(size), Some(count), Some(prefix)) = (parts.next(), parts.next(), parts.next()) else {
        bad(arg)
    };
    let size: usize = size.parse().unwrap_or_else(|_| bad(arg));
    let count: usize = count.parse().unwrap_or_else(|_| bad(arg));
    for i in 0..count {
        let key = format!("{prefix}{i}");
        let value: Vec<u8> = (0..size).map(|j| ((i + j) % 251) as u8).collect();
        if let Err(e) = bucket.set(&key, &value) {
            return format!("error at {key:?}: {}", describe(&e));
        }
    }
    "ok".to_owned()
}

/// `ok` and the shown result, or the error.
fn done<T>(result: Result<T, store::Error>, shown: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => format!("ok{}", shown(value)),
        Err(e) => error(&e),
    }
}

fn error(e: &store::Error) -> String {
    format!("error {}", describe(e))
}

fn describe(e: &store::Error) -> String {
    match e {
        store::Error::NoSuchStore => "no-such-store".to_owned(),
        store::Error::AccessDenied => "access-denied".to_owned(),
        store::Error::Other(message) => format!("other: {message}"),
    }
}

fn from_draft(e: draft::store::Error) -> store::Error {
    match e {
        draft::store::Error::NoSuchStore => store::Error::NoSuchStore,
        draft::store::Error::AccessDenied => store::Error::AccessDenied,
        draft::store::Error::Other(message) => store::Error::Other(message),
    }
}

/// One `list-keys` page: ` ["k1"]`, then ` next CURSOR` if there is one.
fn show_page(keys: &[String], cursor: Option<impl std::fmt::Display>) -> String {
    match cursor {
        Some(cursor) => format!(" {keys:?} next {cursor}"),
        None => format!(" {keys:?}"),
    }
}

/// A `get-many` result: ` [("K", "V"), none]`.
fn show_entries(entries: &[Option<(String, Vec<u8>)>]) -> String {
    let shown: Vec<String> = entries
        .iter()
        .map(|entry| match entry {
            None => "none".to_owned(),
            Some((key, value)) => format!("({key:?}, {})", show(value)),
        })
        .collect();
    format!(" [{}]", shown.join(", "))
}

fn show_opt(value: Option<&[u8]>) -> String {
    match value {
        None => " none".to_owned(),
        Some(value) => format!(" {}", show(value)),
    }
}

/// A value as the output shows it: escaped in quotes, or its size and hash when long.
fn show(value: &[u8]) -> String {
    if value.len() <= 64 {
        return format!("\"{}\"", value.escape_ascii());
    }
    format!("({} bytes, fnv1a64 {:016x})", value.len(), fnv1a64(value))
}

/// FNV-1a, 64 bits: the tests compute it on their side to compare long values byte for byte.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The comma-separated items of `text`; none for an empty text.
fn keys(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split(',').map(str::to_owned).collect()
}

/// `K=V` as a key and value.
fn pair(arg: &str, text: &str) -> (String, Vec<u8>) {
    let (key, value) = text.split_once('=').unwrap_or_else(|| bad(arg));
    (key.to_owned(), value.as_bytes().to_vec())
}

/// The argument as echoed: cut to its first 40 characters and its length when over 100 bytes.
fn echo(arg: &str) -> String {
    if arg.len() <= 100 {
        return arg.to_owned();
    }
    let head: String = arg.chars().take(40).collect();
    format!("{head}... ({} bytes)", arg.len())
}

fn bad(arg: &str) -> ! {
    panic!("malformed operation `{arg}`; {USAGE}")
}
