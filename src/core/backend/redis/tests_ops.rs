//! The redis backend in the situations of production, against real servers: a failover, a
//! bucket drained page by page, a cluster of one shard, connections the server closed, a
//! server that trickles its reply, and what errors say.

use std::collections::HashMap;
use std::eprintln;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyvalue_virt_redis_server::{RedisCluster, RedisServer, wait_until};

use super::*;
use crate::backend::contract::drain_walk;

fn on(urls: Vec<String>, timeout_ms: u64) -> Redis {
    Redis::new(&RedisConfig {
        urls,
        key_prefix: "test:".into(),
        timeout_ms: Some(timeout_ms),
        ..RedisConfig::default()
    })
    .unwrap()
}

/// The contract's drain walk of 2,000 keys of ~4 KB, on a server and on a cluster.
#[test]
fn a_drained_bucket_lists_every_long_key_once() {
    let server = RedisServer::start();
    let redis = on(vec![server.url()], 5000);
    drain_walk(&redis.open("drain").unwrap(), false, 2000);
    drain_walk(&redis.open("grow").unwrap(), true, 2000);
    let cluster = RedisCluster::start();
    let redis = on(cluster.urls(), 5000);
    drain_walk(&redis.open("drain").unwrap(), false, 2000);
    drain_walk(&redis.open("grow").unwrap(), true, 2000);
}

#[test]
fn a_cluster_of_one_shard_runs_every_batch_operation() {
    let cluster = RedisCluster::single();
    let b = on(cluster.urls(), 5000).open("one").unwrap();
    let pairs: Vec<(String, Vec<u8>)> = (0..50)
        .map(|i| (format!("k{i}"), format!("v{i}").into_bytes()))
        .collect();
    b.set_many(pairs.clone()).unwrap();
    let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    let values = b.get_many(&keys).unwrap();
    assert_eq!(
        values,
        pairs
            .iter()
            .map(|(_, v)| Some(v.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(b.count().unwrap(), 50);
    b.delete_many(&keys[..25]).unwrap();
    assert_eq!(crate::backend::contract::walk(&b, 7).len(), 25);
    assert_eq!(b.get_many(&keys[..2]).unwrap(), [None, None]);
}

/// Closes the backend's connection in three ways between calls: none of the calls fails.
#[test]
fn connections_the_server_closed_are_replaced_before_a_call() {
    let server = RedisServer::start();
    let port = server.port;
    let b = on(vec![server.url()], 2000).open("s").unwrap();
    b.set("k".into(), b"1".to_vec()).unwrap();

    server.cli(&["client", "kill", "type", "normal"]);
    std::thread::sleep(Duration::from_millis(100));
    b.set("k".into(), b"2".to_vec()).unwrap();
    assert_eq!(b.get("k").unwrap(), Some(b"2".to_vec()));

    server.cli(&["config", "set", "timeout", "1"]);
    std::thread::sleep(Duration::from_millis(2500));
    b.set("k".into(), b"3".to_vec()).unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(b.get("k").unwrap(), Some(b"3".to_vec()));

    drop(server);
    let _server = RedisServer::on(port, &[]);
    b.set("k".into(), b"4".to_vec()).unwrap();
    assert_eq!(b.get("k").unwrap(), Some(b"4".to_vec()));
}

/// A read skips the check for a closed connection before it is sent (a write does not): one
/// that meets a connection the server closed is sent again on a new one, and every read
/// kind answers after each way of closing it.
#[test]
fn reads_on_a_connection_the_server_closed_are_sent_again() {
    let server = RedisServer::start();
    let port = server.port;
    let b = on(vec![server.url()], 2000).open("r").unwrap();
    b.set_many(vec![
        ("a".into(), b"1".to_vec()),
        ("b".into(), b"2".to_vec()),
    ])
    .unwrap();
    let keys = ["a".to_owned(), "b".to_owned()];
    let values = || vec![Some(b"1".to_vec()), Some(b"2".to_vec())];
    let kill = || {
        server.cli(&["client", "kill", "type", "normal"]);
        std::thread::sleep(Duration::from_millis(100));
    };
    kill();
    assert_eq!(b.get("a").unwrap(), Some(b"1".to_vec()));
    kill();
    assert_eq!(b.get_many(&keys).unwrap(), values());
    kill();
    assert!(b.exists("b").unwrap());
    kill();
    assert_eq!(crate::backend::contract::walk(&b, 7).len(), 2);

    server.cli(&["config", "set", "timeout", "1"]);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(b.get("b").unwrap(), Some(b"2".to_vec()));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(b.get_many(&keys).unwrap(), values());

    drop(server);
    let server = RedisServer::on(port, &[]);
    server.cli(&["set", "test:r:a", "3"]);
    assert_eq!(b.get("a").unwrap(), Some(b"3".to_vec()));
}

/// A fake server that answers `CLUSTER SLOTS` as a single server does, then trickles the
/// reply to the next command one byte every 200 ms (4 s in all).
#[test]
fn a_trickled_reply_fails_at_the_calls_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0; 1024];
        let _ = conn.read(&mut buf);
        let _ = conn.write_all(b"-ERR This instance has cluster support disabled\r\n");
        let _ = conn.read(&mut buf);
        for &byte in b"$16\r\n0123456789abcdef\r\n" {
            if stop.load(Ordering::Relaxed) || conn.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let b = on(vec![format!("redis://127.0.0.1:{port}")], 300)
        .open("t")
        .unwrap();
    let start = Instant::now();
    let result = b.get("k");
    let elapsed = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let error = result
        .expect_err("a trickled reply must time out")
        .to_string();
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    assert!(error.contains("within 300 ms"), "{error}");
}

#[test]
fn get_many_answers_wrongtype_as_get_does() {
    let server = RedisServer::start();
    server.cli(&["rpush", "test:w:list", "x"]);
    let b = on(vec![server.url()], 2000).open("w").unwrap();
    let single = b.get("list").unwrap_err().to_string();
    assert!(single.contains("WRONGTYPE"), "{single}");
    let many = b.get_many(&["list".into()]);
    assert!(
        matches!(&many, Err(e) if e.to_string().contains("WRONGTYPE")),
        "{many:?}"
    );
}

#[test]
fn cluster_errors_name_the_node_and_a_database_is_refused_clearly() {
    let cluster = RedisCluster::start();
    let redis = on(cluster.urls(), 2000);
    let b = redis.open("e").unwrap();
    // A key served by a node other than the first seed.
    let client = &b.0.client;
    let deadline = client.deadline();
    let (key, node) = (0..)
        .map(|i| format!("key{i}"))
        .find_map(|key| {
            let node = client.node_of(&b.key(&key), &deadline).unwrap();
            (node != 0).then_some((key, node))
        })
        .unwrap();
    let full = String::from_utf8(b.key(&key)).unwrap();
    let port = client.state.borrow().nodes[node].port;
    let holder = cluster.nodes.iter().find(|n| n.port == port).unwrap();
    holder.cli(&["rpush", &full, "x"]);
    let error = b.get(&key).unwrap_err().to_string();
    assert!(
        error.contains(&format!(":{port}")) && error.contains("WRONGTYPE"),
        "{error}"
    );

    let with_db = on(vec![format!("{}/1", cluster.nodes[0].url())], 2000);
    let error = with_db.open("e").unwrap().get("k").unwrap_err().to_string();
    assert!(
        error.contains("a cluster has only database 0; drop the /1"),
        "{error}"
    );
}

#[test]
fn a_large_reply_does_not_keep_its_buffer() {
    let server = RedisServer::start();
    let redis = on(vec![server.url()], 5000);
    let b = redis.open("big").unwrap();
    b.set("big".into(), vec![7; 4 << 20]).unwrap();
    assert_eq!(b.get("big").unwrap().map(|v| v.len()), Some(4 << 20));
    b.get("small").unwrap();
    let capacity = redis.client.reader_capacity();
    assert!(capacity <= 64 << 10, "{capacity} bytes kept");
}

/// 3 primaries with a replica each; 8 clients increment while a primary is killed. Every
/// client recovers without a restart; the final counts are compared with what was
/// acknowledged.
#[test]
fn clients_follow_a_failover_without_restarting() {
    let cluster = RedisCluster::with(3, 1);
    let urls = cluster.urls();
    let killed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(HashMap::<String, i64>::new()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (urls, killed, stop, acked) =
                (urls.clone(), killed.clone(), stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let b = on(urls, 1000).open("count").unwrap();
                let (mut errors_after, mut ok_after, mut i) = (0, 0, 0);
                let mut last_error = String::new();
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("c{}", (i + t) % 12);
                    i += 1;
                    let was_killed = killed.load(Ordering::Relaxed);
                    match b.add(&key, 1, false) {
                        Ok(_) => {
                            *acked.lock().unwrap().entry(key).or_default() += 1;
                            if was_killed {
                                ok_after += 1;
                            }
                        }
                        Err(e) => {
                            errors_after += was_killed as usize;
                            last_error = e.to_string();
                            ok_after = 0;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                (errors_after, ok_after, last_error)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let start = Instant::now();
    cluster.nodes[0].signal("-KILL");
    killed.store(true, Ordering::Relaxed);
    let dead = format!("127.0.0.1:{}", cluster.nodes[0].port);
    wait_until(30, "no replica took over", || {
        cluster.nodes[1..].iter().all(|n| {
            let nodes = n.cli(&["cluster", "nodes"]);
            let marked = nodes.lines().any(|line| {
                line.contains(&dead) && line.contains("fail") && !line.contains("fail?")
            });
            marked && n.cli(&["cluster", "info"]).contains("cluster_state:ok")
        })
    });
    let failover = start.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let b = on(urls, 2000).open("count").unwrap();
    let acked = acked.lock().unwrap();
    let (mut lost, mut extra, mut total) = (0, 0, 0);
    for (key, &n) in acked.iter() {
        let stored: i64 = b
            .get(key)
            .unwrap()
            .map_or(0, |v| String::from_utf8(v).unwrap().parse().unwrap());
        total += n;
        lost += (n - stored).max(0);
        extra += (stored - n).max(0);
    }
    let errors: usize = results.iter().map(|r| r.0).sum();
    eprintln!(
        "failover after {failover:?}: {total} increments acknowledged, {lost} of them lost, \
         {extra} unacknowledged ones applied, {errors} failed calls in all clients"
    );
    for (t, (_, ok_after, last_error)) in results.iter().enumerate() {
        assert!(
            *ok_after >= 50,
            "client {t} did not recover: {ok_after} calls since its last error `{last_error}`"
        );
    }
}

/// `--topology standalone`: the first command goes out without a `CLUSTER SLOTS` before it
/// (a fake server records what it receives first). `--url-env`: the URL is read from the
/// environment when the backend is made, and a missing variable is named.
#[test]
fn a_declared_topology_sends_the_first_command_at_once_and_the_url_may_come_from_the_environment() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let first = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0; 1024];
        let n = conn.read(&mut buf).unwrap();
        let _ = conn.write_all(b"$-1\r\n");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    // Unique to this test, so that no other test sees it.
    let name = "KV_VIRT_TEST_TOPOLOGY_URL";
    // SAFETY: no other thread reads or writes this variable.
    unsafe { std::env::set_var(name, format!("redis://127.0.0.1:{port}")) };
    let redis = Redis::new(&RedisConfig {
        url_env: Some(name.into()),
        topology: Some(crate::config::RedisTopology::Standalone),
        timeout_ms: Some(2000),
        ..RedisConfig::default()
    })
    .unwrap();
    assert_eq!(redis.open("t").unwrap().get("k").unwrap(), None);
    let first = first.join().unwrap();
    assert!(
        first.contains("GET") && !first.contains("CLUSTER"),
        "{first}"
    );

    let missing = Redis::new(&RedisConfig {
        url_env: Some("KV_VIRT_TEST_UNSET_URL".into()),
        ..RedisConfig::default()
    });
    let error = missing.err().unwrap().to_string();
    assert!(
        error.contains("`KV_VIRT_TEST_UNSET_URL` (--url-env) is not set"),
        "{error}"
    );
}

/// `--topology cluster`: a fresh instance sends its first command to the first seed, follows
/// the redirect, and then works as one that asked first.
#[test]
fn a_declared_cluster_learns_its_map_from_the_first_redirect() {
    let cluster = RedisCluster::start();
    let redis = Redis::new(&RedisConfig {
        urls: cluster.urls(),
        topology: Some(crate::config::RedisTopology::Cluster),
        key_prefix: "test:".into(),
        timeout_ms: Some(2000),
        ..RedisConfig::default()
    })
    .unwrap();
    let b = redis.open("c").unwrap();
    let pairs: Vec<(String, Vec<u8>)> = (0..50).map(|i| (format!("k{i}"), vec![b'v'])).collect();
    b.set("first".into(), b"1".to_vec()).unwrap();
    b.set_many(pairs.clone()).unwrap();
    let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    assert!(b.get_many(&keys).unwrap().iter().all(Option::is_some));
    assert_eq!(crate::backend::contract::walk(&b, 7).len(), 51);
}

/// A fake single server that drops the connection the first time it receives `command`,
/// without answering, and answers `reply` on the next connection.
fn drops_once(command: &'static str, reply: &'static [u8]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut dropped = false;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = [0; 4096];
            while let Ok(n) = conn.read(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                if n == 0 {
                    break;
                } else if text.contains("CLUSTER") {
                    let _ = conn.write_all(b"-ERR This instance has cluster support disabled\r\n");
                } else if text.contains(command) && !dropped {
                    dropped = true;
                    break;
                } else {
                    let _ = conn.write_all(reply);
                }
            }
        }
    });
    port
}

/// A read whose connection breaks after it was sent is sent once more; a write never is.
#[test]
fn a_broken_read_is_retried_once_and_a_broken_write_is_not() {
    let port = drops_once("GET", b"$2\r\nok\r\n");
    let b = on(vec![format!("redis://127.0.0.1:{port}")], 2000)
        .open("r")
        .unwrap();
    assert_eq!(b.get("k").unwrap(), Some(b"ok".to_vec()));

    let port = drops_once("SET", b"+OK\r\n");
    let b = on(vec![format!("redis://127.0.0.1:{port}")], 2000)
        .open("w")
        .unwrap();
    let error = b.set("k".into(), b"v".to_vec()).unwrap_err().to_string();
    assert!(error.contains("may or may not have happened"), "{error}");
    b.set("k".into(), b"v".to_vec()).unwrap();
}
