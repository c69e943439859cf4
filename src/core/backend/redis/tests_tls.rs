//! The redis backend over TLS (`rediss://`) against real `redis-server` processes with a TLS
//! port and a test CA made with `openssl`: the certificate checks and their messages, a Redis
//! Cluster whose nodes speak only TLS, and a primary and Sentinel that do. The backend's
//! contract over TLS runs in `backend/contract.rs`, on a [`Secure`] server and on a
//! [`SecureCluster`].

use keyvalue_virt_redis_server::{RedisCluster, RedisSentinel, RedisServer, TestCa, wait_until};

use super::*;

/// A `redis-server` that speaks only TLS, with the CA that issued its certificate.
pub(crate) struct Secure {
    pub(crate) ca: TestCa,
    pub(crate) server: RedisServer,
}

impl Secure {
    pub(crate) fn new() -> Secure {
        let ca = TestCa::new();
        let server = RedisServer::tls(&ca);
        Secure { ca, server }
    }

    /// A backend on this server, trusting this CA, with its own key prefix. Its deadline is
    /// long: these checks are not about deadlines, and a batch of 400 KB takes a debug build's
    /// TLS seconds to encrypt on a busy machine (one went past 2 s).
    pub(crate) fn backend(&self, prefix: &str) -> Redis {
        Redis::new(&RedisConfig {
            timeout_ms: Some(60_000),
            ..tls_config(self.server.tls_url(), Some(self.ca.ca_pem()), prefix)
        })
        .unwrap()
    }
}

/// A TLS cluster of three primaries (`--tls-cluster yes`) whose one certificate names only
/// `localhost`, as a managed service's nodes share a wildcard certificate for its domain. The
/// seeds are `rediss://localhost:PORT`; `CLUSTER SLOTS` and redirects name the nodes by IP
/// address, so they are checked against the seeds' host name.
pub(crate) struct SecureCluster {
    pub(crate) ca: TestCa,
    pub(crate) cluster: RedisCluster,
}

impl SecureCluster {
    pub(crate) fn new() -> SecureCluster {
        let ca = TestCa::for_names("DNS:localhost");
        let cluster = RedisCluster::tls(&ca, 3, 0);
        SecureCluster { ca, cluster }
    }

    /// A backend on this cluster (every node a `rediss://localhost` seed), trusting this CA,
    /// with its own key prefix.
    pub(crate) fn backend(&self, prefix: &str) -> Redis {
        Redis::new(&self.config(prefix)).unwrap()
    }

    fn config(&self, prefix: &str) -> RedisConfig {
        RedisConfig {
            urls: self.cluster.tls_urls("localhost"),
            // A call may make a handshake with every node, each slow in a debug build (and
            // more so on a busy machine); these checks are not about deadlines.
            timeout_ms: Some(60_000),
            ..tls_config(String::new(), Some(self.ca.ca_pem()), prefix)
        }
    }
}

fn tls_config(url: String, ca: Option<String>, prefix: &str) -> RedisConfig {
    RedisConfig {
        urls: vec![url],
        key_prefix: prefix.into(),
        timeout_ms: Some(2000),
        tls: true,
        tls_ca: ca,
        ..RedisConfig::default()
    }
}

/// The message of the first call's error, for a backend built from `config`.
fn first_error(config: &RedisConfig) -> String {
    let redis = Redis::new(config).unwrap();
    let error = redis
        .open("b")
        .and_then(|bucket| bucket.get("k"))
        .expect_err("the connection must be refused");
    error.to_string()
}

#[test]
fn certificates_are_checked_and_failures_name_the_url_and_the_fix() {
    let secure = Secure::new();
    let port = secure.server.port;
    let redis = secure.backend("t:");
    let bucket = redis.open("b").unwrap();
    bucket.set("k".into(), b"over tls".to_vec()).unwrap();
    assert_eq!(bucket.get("k").unwrap().as_deref(), Some(&b"over tls"[..]));

    // A CA that did not sign the server's certificate; the password is never shown.
    let other = TestCa::new();
    let error = first_error(&tls_config(
        format!("rediss://:hunter2@127.0.0.1:{port}"),
        Some(other.ca_pem()),
        "t:",
    ));
    assert!(
        error.contains(&format!("rediss://127.0.0.1:{port}"))
            && error.contains("not signed by the CA given with --tls-ca")
            && error.contains("--tls-ca FILE")
            && !error.contains("hunter2"),
        "{error}"
    );

    // Mozilla's roots (no --tls-ca) do not hold the test CA either.
    let error = first_error(&tls_config(secure.server.tls_url(), None, "t:"));
    assert!(error.contains("built-in roots"), "{error}");

    // The certificate holds IP:127.0.0.1 only, not the name `localhost`.
    let error = first_error(&tls_config(
        format!("rediss://localhost:{port}"),
        Some(secure.ca.ca_pem()),
        "t:",
    ));
    assert!(
        error.contains("not valid for `localhost`") && error.contains("subjectAltName"),
        "{error}"
    );

    // --tls-insecure-skip-verify accepts the certificate of an unknown CA.
    let insecure = Redis::new(&RedisConfig {
        tls_insecure_skip_verify: true,
        ..tls_config(secure.server.tls_url(), None, "t:")
    })
    .unwrap();
    let value = insecure.open("b").unwrap().get("k").unwrap();
    assert_eq!(value.as_deref(), Some(&b"over tls"[..]));

    // A plain server on a rediss:// URL.
    let plain = RedisServer::start();
    let error = first_error(&tls_config(
        format!("rediss://127.0.0.1:{}", plain.port),
        Some(secure.ca.ca_pem()),
        "t:",
    ));
    assert!(
        error.contains(&format!("rediss://127.0.0.1:{}", plain.port))
            && error.contains("the server's TLS port")
            && error.contains("needs redis://"),
        "{error}"
    );
}

#[test]
fn a_broken_ca_file_and_mixed_schemes_are_refused() {
    assert!(
        check_tls_ca("not a certificate")
            .unwrap_err()
            .contains("no certificate")
    );
    let error = Redis::new(&RedisConfig {
        urls: vec!["rediss://127.0.0.1:1".into(), "redis://127.0.0.1:2".into()],
        tls: true,
        ..RedisConfig::default()
    })
    .err()
    .unwrap()
    .to_string();
    assert!(error.contains("same scheme"), "{error}");
}

/// The slot of the key `key` of bucket `b` under the prefix `m:`, and the node that serves it.
fn owner<'a>(cluster: &'a RedisCluster, key: &str) -> (u16, &'a RedisServer) {
    let slot = client::slot(format!("m:b:{key}").as_bytes());
    let node = cluster.nodes.iter().find(|node| serves(node, slot));
    (slot, node.expect("a node serves every slot"))
}

/// Whether `node` serves `slot`, by its own line of `CLUSTER NODES`.
fn serves(node: &RedisServer, slot: u16) -> bool {
    let nodes = node.cli(&["cluster", "nodes"]);
    let Some(myself) = nodes.lines().find(|line| line.contains("myself")) else {
        return false;
    };
    myself.split_whitespace().skip(8).any(|range| {
        let (start, end) = range.split_once('-').unwrap_or((range, range));
        match (start.parse::<u16>(), end.parse::<u16>()) {
            (Ok(start), Ok(end)) => (start..=end).contains(&slot),
            _ => false,
        }
    })
}

/// A cluster whose nodes speak only TLS, reached by the seeds' host name while the cluster
/// names its nodes by IP address: batches that span every primary, a declared topology that
/// learns its map from the first `MOVED`, and a slot moved to another node while the instance
/// runs (its next command is redirected there). Seeds given by IP address leave no name to
/// check the nodes for: each is checked for its own address, and refused.
#[test]
fn a_tls_cluster_runs_batches_across_slots_and_follows_moved() {
    let secure = SecureCluster::new();
    let cluster = &secure.cluster;

    let error = first_error(&RedisConfig {
        urls: cluster.tls_urls("127.0.0.1"),
        ..secure.config("m:")
    });
    assert!(
        error.contains("not valid for `127.0.0.1`") && error.contains("subjectAltName"),
        "{error}"
    );

    let b = secure.backend("m:").open("b").unwrap();
    let pairs: Vec<(String, Vec<u8>)> = (0..60)
        .map(|i| (format!("k{i}"), format!("v{i}").into_bytes()))
        .collect();
    b.set_many(pairs.clone()).unwrap();
    for node in &cluster.nodes {
        let keys: u64 = node.cli(&["dbsize"]).parse().unwrap();
        assert!(keys > 5, "node {} holds only {keys} of 60 keys", node.port);
    }
    let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    let values = b.get_many(&keys).unwrap();
    let expected: Vec<Option<Vec<u8>>> = pairs.iter().map(|(_, v)| Some(v.clone())).collect();
    assert_eq!(values, expected);
    b.delete_many(&keys[..30]).unwrap();
    assert_eq!(crate::backend::contract::walk(&b, 7).len(), 30);

    // A declared cluster sends every command to the first seed first: most are redirected.
    let declared = Redis::new(&RedisConfig {
        topology: Some(crate::config::RedisTopology::Cluster),
        ..secure.config("m:")
    })
    .unwrap();
    let d = declared.open("b").unwrap();
    assert_eq!(d.get("k59").unwrap(), Some(b"v59".to_vec()));
    assert_eq!(d.get_many(&keys[30..]).unwrap(), expected[30..].to_vec());

    // An empty slot moves from its node to another one while `b` holds the old map.
    let (slot, source) = owner(cluster, "moving");
    let to = cluster
        .nodes
        .iter()
        .find(|n| n.port != source.port)
        .unwrap();
    let (from_id, to_id) = (
        source.cli(&["cluster", "myid"]),
        to.cli(&["cluster", "myid"]),
    );
    let slot = slot.to_string();
    to.cli(&["cluster", "setslot", &slot, "importing", &from_id]);
    source.cli(&["cluster", "setslot", &slot, "migrating", &to_id]);
    to.cli(&["cluster", "setslot", &slot, "node", &to_id]);
    source.cli(&["cluster", "setslot", &slot, "node", &to_id]);
    b.set("moving".into(), b"moved".to_vec()).unwrap();
    assert_eq!(to.cli(&["get", "m:b:moving"]), "moved");
    assert_eq!(b.get("moving").unwrap(), Some(b"moved".to_vec()));
}

/// A primary, its replica and a Sentinel that all speak only TLS, with one certificate for
/// `localhost`: the instance finds the primary through `--sentinel rediss://localhost:PORT`
/// (the Sentinel names it by IP address, checked for `localhost`), and when the primary is
/// killed, the same instance reaches the replica the Sentinel promotes, over TLS.
#[test]
fn behind_a_tls_sentinel_an_instance_finds_the_primary_and_follows_a_failover() {
    let ca = TestCa::for_names("DNS:localhost");
    let setup = RedisSentinel::tls(&ca, 1);
    let redis = Redis::new(&RedisConfig {
        urls: vec![setup.sentinel.tls_url_at("localhost")],
        sentinel: Some(RedisSentinel::SERVICE.into()),
        timeout_ms: Some(10_000),
        ..tls_config(String::new(), Some(ca.ca_pem()), "s:")
    })
    .unwrap();
    let b = redis.open("b").unwrap();
    b.set("before".into(), b"1".to_vec()).unwrap();
    assert_eq!(setup.primary.cli(&["get", "s:b:before"]), "1");
    // Not `WAIT` from redis-cli: it waits for that connection's writes, which are none.
    let new = &setup.replicas[0];
    wait_until(30, "the replica did not receive the write", || {
        new.cli(&["get", "s:b:before"]) == "1"
    });

    // Calls fail until the Sentinel has promoted the replica (its down-after is 1 s).
    setup.primary.signal("-KILL");
    let start = std::time::Instant::now();
    while let Err(error) = b.set("after".into(), b"2".to_vec()) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "no primary within 60 s of the kill: {error}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(new.cli(&["get", "s:b:after"]), "2");
    assert_eq!(
        b.get("before").unwrap(),
        Some(b"1".to_vec()),
        "keys on the new primary: {:?}; INFO replication: {}",
        new.cli(&["keys", "*"]),
        new.cli(&["info", "replication"])
    );
}
