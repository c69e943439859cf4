//! Real `redis-server` processes for tests: each on a free loopback port, in a scratch
//! directory of its own, killed when its guard drops (even when the test panics). A missing
//! `redis-server` fails the test with the command that installs it: `bash .ci/setup` does.

#![deny(missing_docs)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A running `redis-server`, killed on drop.
pub struct RedisServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

/// A free loopback port (free when this returns; the server binds it right after).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("a bound address").port()
}

impl RedisServer {
    /// Starts a standalone server on a free port.
    pub fn start() -> RedisServer {
        RedisServer::on(free_port(), &[])
    }

    /// Starts a server on `port` with `extra` options, and waits until it accepts connections.
    pub fn on(port: u16, extra: &[&str]) -> RedisServer {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kv-redis-{}-{port}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory for redis-server");
        let child = Command::new("redis-server")
            .current_dir(&dir)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "failed to start `redis-server` ({e}): `bash .ci/setup` installs it \
                     (`apt-get install redis-server`)"
                )
            });
        let server = RedisServer { port, child, dir };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends `signal` (such as `-STOP`) to the server.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Runs `redis-cli -p PORT ARGS` and returns its stdout, trimmed; panics if it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        assert!(output.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A stopped server must be continued to die of the kill.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free loopback port whose cluster bus port (the port + 10000) is free too.
pub fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Waits until `ready()`, for at most `secs` seconds; panics with `what` if it never is.
pub fn wait_until(secs: u64, what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < Duration::from_secs(secs), "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Nodes on loopback made one Redis Cluster (all 16384 slots covered).
pub struct RedisCluster {
    /// The nodes: the primaries first, then their replicas.
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three primaries, creates the cluster and waits until every node reports it ok.
    pub fn start() -> RedisCluster {
        RedisCluster::with(3, 0)
    }

    /// Starts `primaries` nodes (three or more) with `replicas` replicas each, with a
    /// `cluster-node-timeout` of one second (a replica takes over about two seconds after its
    /// primary dies); waits until the cluster is ok and every replica is in sync.
    pub fn with(primaries: usize, replicas: usize) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..primaries * (1 + replicas))
            .map(|_| RedisCluster::node(cluster_port()))
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster { nodes };
        cluster.wait_ok(&cluster.nodes);
        wait_until(30, "the replicas did not sync", || {
            cluster.nodes.iter().all(|n| {
                let info = n.cli(&["info", "replication"]);
                info.contains("role:master") || info.contains("master_link_status:up")
            })
        });
        cluster
    }

    /// One node in cluster mode that serves every slot: a cluster of one shard.
    pub fn single() -> RedisCluster {
        let node = RedisCluster::node(cluster_port());
        node.cli(&["cluster", "addslotsrange", "0", "16383"]);
        let cluster = RedisCluster { nodes: vec![node] };
        cluster.wait_ok(&cluster.nodes);
        cluster
    }

    fn node(port: u16) -> RedisServer {
        let conf = format!("nodes-{port}.conf");
        RedisServer::on(
            port,
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &conf,
                "--cluster-node-timeout",
                "1000",
            ],
        )
    }

    /// Waits until each of `nodes` reports the cluster ok.
    pub fn wait_ok(&self, nodes: &[RedisServer]) {
        wait_until(30, "the cluster did not come up", || {
            nodes
                .iter()
                .all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok"))
        });
    }

    /// Every node's `redis://` URL: the seeds to configure.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}
