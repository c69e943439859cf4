//! The redis backend against a real `redis-server` (`bash .ci/setup` installs it): the
//! contract every backend keeps, and what this one adds (key layout, counters
//! through `INCRBY`, failures of the server).

use std::time::{Duration, Instant};

use keyvalue_virt_redis_server::RedisServer;

use super::*;

/// A backend on `server`, under a key prefix of its own.
fn backend(server: &RedisServer, timeout_ms: u64) -> Redis {
    Redis::new(&RedisConfig {
        urls: vec![server.url()],
        key_prefix: "test:".into(),
        timeout_ms: Some(timeout_ms),
        ..RedisConfig::default()
    })
    .unwrap()
}

/// A fresh server and a backend on it, for the contract.
pub(crate) struct Fresh(pub(crate) RedisServer, pub(crate) Redis);

impl Fresh {
    pub(crate) fn new() -> Fresh {
        let server = RedisServer::start();
        let backend = backend(&server, 5000);
        Fresh(server, backend)
    }

    /// A fresh server and a backend on it as a user with only the permissions the backend
    /// needs (see the documentation of `topology`): `CLUSTER SLOTS` gets `NOPERM`.
    pub(crate) fn least_privilege() -> Fresh {
        let server = RedisServer::start();
        server.cli(&[
            "acl",
            "setuser",
            "kv",
            "on",
            ">pw",
            "~*",
            "+@read",
            "+@write",
            "+@scripting",
            "+@connection",
        ]);
        let backend = Redis::new(&RedisConfig {
            urls: vec![format!("redis://kv:pw@127.0.0.1:{}", server.port)],
            key_prefix: "test:".into(),
            timeout_ms: Some(5000),
            ..RedisConfig::default()
        })
        .unwrap();
        Fresh(server, backend)
    }
}

fn raw_keys(port: u16) -> Vec<String> {
    let client = Client::new(&RedisConfig {
        urls: vec![format!("redis://127.0.0.1:{port}")],
        ..RedisConfig::default()
    })
    .unwrap();
    let (_, keys) = scan(&client, 0, 0, b"*", 1000, &client.deadline()).unwrap();
    let mut keys: Vec<String> = keys
        .into_iter()
        .map(|k| String::from_utf8(k).unwrap())
        .collect();
    keys.sort();
    keys
}

#[test]
fn keys_are_prefixed_and_bucket_names_escaped() {
    let Fresh(server, redis) = Fresh::new();
    redis.open("a:b").unwrap().set("k".into(), vec![]).unwrap();
    redis.open("a").unwrap().set("b:k".into(), vec![]).unwrap();
    redis.open("{x}%").unwrap().set("*".into(), vec![]).unwrap();
    assert_eq!(
        raw_keys(server.port),
        ["test:%7Bx%7D%25:*", "test:a%3Ab:k", "test:a:b:k"]
    );
    assert_eq!(redis.open("a").unwrap().walk(), ["b:k"]);
    assert_eq!(redis.open("a:b").unwrap().walk(), ["k"]);
    assert_eq!(redis.buckets().unwrap(), ["a", "a:b", "{x}%"]);
}

impl Bucket {
    fn walk(&self) -> Vec<String> {
        let mut keys = crate::backend::contract::walk(self, 3);
        keys.sort();
        keys
    }
}

#[test]
fn increments_use_incrby_and_match_the_other_backends() {
    let Fresh(_server, redis) = Fresh::new();
    let b = redis.open("n").unwrap();
    assert_eq!(b.add("c", 5, true).unwrap(), Some(5));
    assert_eq!(b.add("c", -7, false).unwrap(), Some(-2));
    // A negative value is not a u64: left to the general path, which refuses it.
    assert_eq!(b.add("c", 1, true).unwrap(), None);
    assert_eq!(b.get("c").unwrap(), Some(b"-2".to_vec()));
    assert_eq!(b.add("big", i64::MAX, false).unwrap(), Some(i64::MAX));
    assert_eq!(b.add("small", i64::MIN, false).unwrap(), Some(i64::MIN));
    for odd in [&b"007"[..], b"abc", b"9223372036854775807"] {
        b.set("odd".into(), odd.to_vec()).unwrap();
        assert_eq!(b.add("odd", 1, false).unwrap(), None, "{odd:?}");
        assert_eq!(b.get("odd").unwrap(), Some(odd.to_vec()));
    }
}

#[test]
fn a_dead_server_is_named_and_a_restarted_one_reconnects() {
    let server = RedisServer::start();
    let port = server.port;
    let b = backend(&server, 2000).open("f").unwrap();
    b.set("k".into(), b"1".to_vec()).unwrap();
    drop(server);
    let error = b.set("k".into(), b"2".to_vec()).unwrap_err().to_string();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    let error = b.get("k").unwrap_err().to_string();
    assert!(error.contains("check that the server runs"), "{error}");
    let _server = RedisServer::on(port, &[]);
    assert_eq!(b.get("k").unwrap(), None);
    b.set("k".into(), b"3".to_vec()).unwrap();
    assert_eq!(b.get("k").unwrap(), Some(b"3".to_vec()));
}

#[test]
fn a_server_that_stops_answering_times_out() {
    let server = RedisServer::start();
    let b = backend(&server, 300).open("f").unwrap();
    b.set("k".into(), b"1".to_vec()).unwrap();
    server.signal("-STOP");
    let start = Instant::now();
    let error = b.set("k".into(), b"2".to_vec()).unwrap_err().to_string();
    assert!(start.elapsed() < Duration::from_secs(3));
    assert!(
        error.contains("within 300 ms") && error.contains("may or may not have happened"),
        "{error}"
    );
    server.signal("-CONT");
    assert_eq!(b.get("k").unwrap().map(|v| v.len()), Some(1));
}

#[test]
fn bad_urls_are_refused_with_the_password_masked() {
    let error = Redis::new(&RedisConfig {
        urls: vec!["redis://u:hunter2@nohost".into()],
        ..RedisConfig::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(
        error.contains("has no port") && !error.contains("hunter2"),
        "{error}"
    );
}
