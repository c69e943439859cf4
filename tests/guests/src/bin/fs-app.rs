//! A `wasi:cli` command for the fs backend's end-to-end tests (`tests/e2e/fs.rs`), over
//! `wasi:keyvalue@0.2.0-draft2`. Commands (the first argument):
//!
//! - `inc B K N`: `increment(K, 1)` N times; prints the last result.
//! - `inc-each B K N`: `increment(K, 1)` N times; prints every result on its own line, as soon
//!   as it is acknowledged (the stall test reads them while the process runs).
//! - `cas-inc B K N`: adds 1 to the decimal value of K N times with a `cas`/`swap` retry loop;
//!   prints the number of `cas-failed` retries.
//! - `big B K MIB`: stores a MIB-MiB value, reads it back and compares; prints `ok`.
//! - `writer B ROUND`: forever, increments `n` and prints `inc N` once acknowledged, then writes
//!   a self-describing value (1 KiB to 1 MiB) to one of the keys `k0`..`k7` (the crash test
//!   kills it).
//! - `check B`: reads `k0`..`k7` and checks that each value is one `writer` wrote in full;
//!   prints `ok`, the round that wrote each key present and the count `n` (`ok 3,3,4 n=17`).
//! - `hostile`: writes, reads back and lists hostile bucket and key names; prints `ok`.
//!
//! Any failure panics with the error.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/deps/keyvalue-0.2.0-draft2",
        world: "wasi:keyvalue/imports@0.2.0-draft2",
    });
}

use bindings::wasi::keyvalue::{atomics, store};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["inc", bucket, key, n] => {
            let bucket = open(bucket);
            let mut last = 0;
            for _ in 0..n.parse::<u32>().unwrap() {
                last = atomics::increment(&bucket, key, 1).unwrap_or_else(|e| fail("increment", e));
            }
            println!("{last}");
        }
        ["inc-each", bucket, key, n] => {
            let bucket = open(bucket);
            for _ in 0..n.parse::<u32>().unwrap() {
                let count =
                    atomics::increment(&bucket, key, 1).unwrap_or_else(|e| fail("increment", e));
                println!("{count}");
            }
        }
        ["cas-inc", bucket, key, n] => {
            let bucket = open(bucket);
            let mut retries = 0;
            for _ in 0..n.parse::<u32>().unwrap() {
                let mut cas = atomics::Cas::new(&bucket, key).unwrap_or_else(|e| fail("cas", e));
                loop {
                    let current = cas.current().unwrap_or_else(|e| fail("current", e));
                    let n: u64 =
                        current.map_or(0, |v| String::from_utf8(v).unwrap().parse().unwrap());
                    match atomics::swap(cas, (n + 1).to_string().as_bytes()) {
                        Ok(()) => break,
                        Err(atomics::CasError::CasFailed(again)) => {
                            retries += 1;
                            cas = again;
                        }
                        Err(atomics::CasError::StoreError(e)) => fail("swap", e),
                    }
                }
            }
            println!("{retries}");
        }
        ["big", bucket, key, mib] => {
            let bucket = open(bucket);
            let len = mib.parse::<usize>().unwrap() << 20;
            let value: Vec<u8> = (0..len)
                .map(|i| (i % 251) as u8 ^ (i >> 20) as u8)
                .collect();
            bucket.set(key, &value).unwrap_or_else(|e| fail("set", e));
            let back = bucket.get(key).unwrap_or_else(|e| fail("get", e)).unwrap();
            assert!(back == value, "the value read back differs");
            println!("ok");
        }
        ["writer", bucket, round] => {
            let bucket = open(bucket);
            let round: u64 = round.parse().unwrap();
            for i in 0.. {
                let n =
                    atomics::increment(&bucket, "n", 1).unwrap_or_else(|e| fail("increment", e));
                println!("inc {n}");
                bucket
                    .set(&format!("k{}", i % 8), &crash_value(round, i))
                    .unwrap_or_else(|e| fail("set", e));
            }
        }
        ["check", bucket] => {
            let bucket = open(bucket);
            let mut rounds = Vec::new();
            for k in 0..8 {
                let Some(value) = bucket
                    .get(&format!("k{k}"))
                    .unwrap_or_else(|e| fail("get", e))
                else {
                    continue;
                };
                let text = String::from_utf8_lossy(&value[..value.len().min(40)]).into_owned();
                let mut parts = text.splitn(3, ':');
                let round: u64 = parts.next().unwrap().parse().unwrap();
                let i = parts.next().unwrap().parse().unwrap();
                assert!(value == crash_value(round, i), "k{k} holds a torn value");
                rounds.push(round.to_string());
            }
            let n = bucket.get("n").unwrap_or_else(|e| fail("get", e));
            let n = n.map_or(0, |n| String::from_utf8(n).unwrap().parse::<u64>().unwrap());
            println!("ok {} n={n}", rounds.join(","));
        }
        ["hostile"] => {
            let long = "x".repeat(1000);
            let names = [
                "",
                ".",
                "..",
                "../escape",
                "../../etc/passwd",
                "/",
                "/abs",
                "a/b",
                "a\\b",
                "\0",
                "CON",
                "con",
                "nul.txt",
                "FORMAT",
                "NAME",
                "k",
                "K",
                "é",
                &long,
            ];
            for b in names {
                let bucket = open(b);
                for k in names {
                    bucket
                        .set(k, format!("{b}|{k}").as_bytes())
                        .unwrap_or_else(|e| fail("set", e));
                }
            }
            for b in names {
                let bucket = open(b);
                for k in names {
                    let value = bucket.get(k).unwrap_or_else(|e| fail("get", e));
                    assert_eq!(value, Some(format!("{b}|{k}").into_bytes()));
                }
                let mut keys = Vec::new();
                let mut cursor = None;
                loop {
                    let page = bucket
                        .list_keys(cursor.as_deref())
                        .unwrap_or_else(|e| fail("list", e));
                    keys.extend(page.keys);
                    match page.cursor {
                        Some(next) => cursor = Some(next),
                        None => break,
                    }
                }
                keys.sort();
                let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
                expected.sort();
                assert_eq!(keys, expected);
            }
            println!("ok");
        }
        _ => panic!("usage: fs-app inc|cas-inc|big|writer|check|hostile ..."),
    }
}

/// The `i`th value `writer` writes in `round`: `ROUND:I:` then bytes derived from both, of a
/// length between 1 KiB and about 200 KiB, or 1 MiB for every fourth.
fn crash_value(round: u64, i: u64) -> Vec<u8> {
    let mut value = format!("{round}:{i}:").into_bytes();
    let len = if i % 4 == 3 {
        1 << 20
    } else {
        1024 + (i * 7919 + round * 104_729) % 200_000
    };
    let seed = round.wrapping_mul(31).wrapping_add(i);
    value.extend((value.len() as u64..len).map(|j| (j.wrapping_mul(seed | 1) >> 3) as u8));
    value
}

fn open(name: &str) -> store::Bucket {
    store::open(name).unwrap_or_else(|e| fail("open", e))
}

fn fail(what: &str, e: store::Error) -> ! {
    match e {
        store::Error::NoSuchStore => panic!("{what}: no-such-store"),
        store::Error::AccessDenied => panic!("{what}: access-denied"),
        store::Error::Other(message) => panic!("{what}: other: {message}"),
    }
}
