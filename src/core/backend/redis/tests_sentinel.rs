//! The redis backend behind a Sentinel (real `redis-server` processes): the primary is found
//! through the Sentinel, and one instance follows a failover without restarting.

use std::time::{Duration, Instant};

use keyvalue_virt_redis_server::{RedisSentinel, replication, wait_until};

use super::*;

/// A backend on the service that `setup`'s Sentinel monitors.
fn behind(setup: &RedisSentinel) -> Redis {
    Redis::new(&RedisConfig {
        urls: vec![setup.url()],
        sentinel: Some(RedisSentinel::SERVICE.into()),
        key_prefix: "test:".into(),
        timeout_ms: Some(5000),
        ..RedisConfig::default()
    })
    .unwrap()
}

/// A primary and a Sentinel, and a backend that finds the primary through it, for the contract.
pub(crate) struct Behind(pub(crate) RedisSentinel, pub(crate) Redis);

impl Behind {
    pub(crate) fn new() -> Behind {
        Behind::with(0)
    }

    /// The same with `replicas` replicas of the primary.
    fn with(replicas: usize) -> Behind {
        let setup = RedisSentinel::start(replicas);
        let backend = behind(&setup);
        Behind(setup, backend)
    }
}

#[test]
fn an_instance_follows_a_failover_to_the_former_replica() {
    let Behind(setup, redis) = Behind::with(1);
    let b = redis.open("b").unwrap();
    let value = |i: usize| format!("value {i}").into_bytes();
    for i in 0..200 {
        b.set(format!("k{i}"), value(i)).unwrap();
    }
    assert_eq!(setup.primary.cli(&["get", "test:b:k7"]), "value 7");
    // Every acknowledged write is on the replica before the failover, so none may be lost.
    setup.wait_replicated();

    let new = setup.failover();
    assert_eq!(
        new, setup.replicas[0].port,
        "the former replica is the primary"
    );

    // A key only the former primary holds (a replica may be made writable): a read that
    // still went there would see it.
    setup
        .primary
        .cli(&["config", "set", "replica-read-only", "no"]);
    setup.primary.cli(&["set", "test:b:probe", "stale"]);
    assert_eq!(
        b.get("probe").unwrap(),
        None,
        "a read went to the former primary"
    );

    // The same instance, without a restart: every write acknowledged before is readable, and
    // new writes land on the new primary (the old one is a replica now and refuses them).
    for i in 0..200 {
        assert_eq!(b.get(&format!("k{i}")).unwrap(), Some(value(i)), "k{i}");
    }
    for i in 200..300 {
        b.set(format!("k{i}"), value(i)).unwrap();
    }
    b.set_many(vec![("many".into(), b"1".to_vec())]).unwrap();
    assert_eq!(setup.replicas[0].cli(&["get", "test:b:k250"]), "value 250");
    assert_eq!(setup.replicas[0].cli(&["get", "test:b:many"]), "1");
    assert_eq!(crate::backend::contract::walk(&b, 50).len(), 301);
}

/// The primary dies for real (SIGKILL; no `SENTINEL FAILOVER`, no goodbye to its clients):
/// the Sentinel notices and promotes the replica on its own, and the same instance, calling
/// through the failover, reaches the new primary without a restart. Redis replicates
/// asynchronously, so a write acknowledged just before a kill may be lost with the primary;
/// what is asserted is that none is lost that the replica had confirmed: the writes are
/// acknowledged, then the replica's processed offset (`slave_repl_offset`) reaches the
/// primary's (`master_repl_offset`, read after the last acknowledgement), and nothing is
/// written between that and the kill.
#[test]
fn an_instance_follows_the_sentinel_after_the_primary_is_killed() {
    let Behind(setup, redis) = Behind::with(1);
    let b = redis.open("b").unwrap();
    let value = |i: usize| format!("value {i}").into_bytes();
    for i in 0..200 {
        b.set(format!("k{i}"), value(i)).unwrap();
    }
    assert_eq!(b.add("n", 5, true).unwrap(), Some(5));
    let acknowledged = replication(&setup.primary, "master_repl_offset");
    wait_until(
        30,
        "the replica did not confirm the primary's writes within 30 s",
        || replication(&setup.replicas[0], "slave_repl_offset") >= acknowledged,
    );

    setup.primary.signal("-KILL");
    // The failover window: calls may fail until the Sentinel has promoted the replica (its
    // `down-after-milliseconds` is 1 s); the instance keeps asking, as an app would.
    let start = Instant::now();
    let mut errors = Vec::new();
    while let Err(e) = b.set("after".into(), b"2".to_vec()) {
        errors.push(e.to_string());
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the instance reached no primary within 90 s of the primary's SIGKILL (the \
             Sentinel names {}); {} failed calls, the last: {:?}",
            setup.primary_port(),
            errors.len(),
            errors.last()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let new = &setup.replicas[0];
    assert_eq!(
        setup.primary_port(),
        new.port,
        "the Sentinel names the former replica"
    );
    assert_eq!(
        new.cli(&["get", "test:b:after"]),
        "2",
        "the write went to the new primary"
    );

    for i in 0..200 {
        assert_eq!(b.get(&format!("k{i}")).unwrap(), Some(value(i)), "k{i}");
    }
    assert_eq!(b.add("n", 1, true).unwrap(), Some(6));
    assert_eq!(crate::backend::contract::walk(&b, 50).len(), 202);
}

#[test]
fn a_write_to_a_demoted_primary_goes_to_the_new_one() {
    let Behind(setup, redis) = Behind::with(1);
    let b = redis.open("b").unwrap();
    b.set("before".into(), b"1".to_vec()).unwrap();
    setup.wait_replicated();
    setup.failover();
    // The instance's connection to the former primary was closed by the Sentinel, or answers
    // `-READONLY`: either way the first write after the failover succeeds.
    b.set("after".into(), b"2".to_vec()).unwrap();
    assert_eq!(setup.replicas[0].cli(&["get", "test:b:after"]), "2");
}

#[test]
fn a_wrong_service_or_a_data_node_as_sentinel_is_named_in_the_error() {
    let setup = RedisSentinel::start(0);
    let wrong = Redis::new(&RedisConfig {
        urls: vec![setup.url()],
        sentinel: Some("nosuch".into()),
        timeout_ms: Some(300),
        ..RedisConfig::default()
    })
    .unwrap();
    let error = wrong.open("b").unwrap().get("k").unwrap_err().to_string();
    assert!(
        error.contains("monitors no service named `nosuch`") && error.contains("Sentinel"),
        "{error}"
    );
    let data_node = Redis::new(&RedisConfig {
        urls: vec![setup.primary.url()],
        sentinel: Some(RedisSentinel::SERVICE.into()),
        timeout_ms: Some(300),
        ..RedisConfig::default()
    })
    .unwrap();
    let error = data_node
        .open("b")
        .unwrap()
        .get("k")
        .unwrap_err()
        .to_string();
    assert!(error.contains("is not a Sentinel"), "{error}");
}

#[test]
fn a_least_privilege_user_follows_a_failover_through_readonly() {
    let setup = RedisSentinel::start(1);
    // The user the backend documents, on both data nodes (ACLs are not replicated); it may
    // not run `ROLE`, and the Sentinel has no such user.
    for node in [&setup.primary, &setup.replicas[0]] {
        node.cli(&[
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
    }
    let redis = Redis::new(&RedisConfig {
        urls: vec![format!("redis://kv:pw@127.0.0.1:{}", setup.sentinel.port)],
        sentinel: Some(RedisSentinel::SERVICE.into()),
        key_prefix: "test:".into(),
        timeout_ms: Some(5000),
        ..RedisConfig::default()
    })
    .unwrap();
    let b = redis.open("b").unwrap();
    b.set("before".into(), b"1".to_vec()).unwrap();
    setup.wait_replicated();
    setup.failover();
    // The first command after the failover is a write: the demoted node refuses it, and the
    // instance asks the Sentinel again.
    b.set("after".into(), b"2".to_vec()).unwrap();
    assert_eq!(setup.replicas[0].cli(&["get", "test:b:after"]), "2");
    assert_eq!(b.get("before").unwrap(), Some(b"1".to_vec()));
}
