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
        RedisServer::spawn(port, None, extra)
    }

    /// Starts a Sentinel on a free port with the configuration `conf` (Sentinel rewrites its
    /// configuration file, so it gets one of its own).
    pub fn sentinel(conf: &str) -> RedisServer {
        RedisServer::spawn(free_port(), Some(conf), &["--sentinel"])
    }

    fn spawn(port: u16, conf: Option<&str>, extra: &[&str]) -> RedisServer {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kv-redis-{}-{port}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory for redis-server");
        let mut command = Command::new("redis-server");
        if let Some(conf) = conf {
            std::fs::write(dir.join("redis.conf"), conf).expect("write a redis.conf");
            command.arg("redis.conf");
        }
        let child = command
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

    /// Starts a server that speaks only TLS on a free port, with the certificate `ca` issued
    /// for 127.0.0.1 (clients are not asked for certificates).
    pub fn tls(ca: &TestCa) -> RedisServer {
        let port = free_port();
        let path = |file: &str| ca.dir.join(file).display().to_string();
        let (cert, key, ca_cert) = (path("server.crt"), path("server.key"), path("ca.crt"));
        RedisServer::spawn(
            port,
            None,
            &[
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                &cert,
                "--tls-key-file",
                &key,
                "--tls-ca-cert-file",
                &ca_cert,
                "--tls-auth-clients",
                "no",
            ],
        )
    }

    /// `rediss://127.0.0.1:PORT`, for a server started with [`RedisServer::tls`].
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
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

/// A test certificate authority and a server certificate it issued for the IP address
/// `127.0.0.1` only (so `localhost` does not match), made with the `openssl` CLI in a scratch
/// directory: `ca.crt`, `server.crt`, `server.key`. Keys are P-256, valid for two days.
pub struct TestCa {
    /// The directory that holds the files.
    pub dir: PathBuf,
}

impl TestCa {
    /// Makes a new CA and server certificate.
    pub fn new() -> TestCa {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kv-ca-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory for the test CA");
        std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n")
            .expect("write server.ext");
        const EC: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        let steps = [
            // A name of its own, so that two test CAs are told apart by name, as real ones are.
            format!(
                "req -x509 {EC} -keyout ca.key -out ca.crt -days 2 -subj /CN=kv-test-ca-{}",
                dir.file_name().unwrap_or_default().to_string_lossy()
            ),
            format!("req {EC} -keyout server.key -out server.csr -subj /CN=127.0.0.1"),
            "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
             -days 2 -extfile server.ext"
                .to_owned(),
        ];
        for step in steps {
            let args: Vec<&str> = step.split_whitespace().collect();
            let output = Command::new("openssl")
                .current_dir(&dir)
                .args(&args)
                .output()
                .unwrap_or_else(|e| {
                    panic!("failed to run `openssl` ({e}): install it (`apt-get install openssl`)")
                });
            assert!(
                output.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        TestCa { dir }
    }

    /// The path of the CA certificate (PEM).
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.ca_path()).expect("read ca.crt")
    }
}

impl Default for TestCa {
    fn default() -> TestCa {
        TestCa::new()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
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

/// A primary, its replicas and one Sentinel that monitors them as the service
/// [`RedisSentinel::SERVICE`], with a `down-after-milliseconds` of one second and a
/// `failover-timeout` of five.
pub struct RedisSentinel {
    /// The primary the setup started with (a replica after a failover).
    pub primary: RedisServer,
    /// Its replicas.
    pub replicas: Vec<RedisServer>,
    /// The Sentinel.
    pub sentinel: RedisServer,
}

impl RedisSentinel {
    /// The service name the Sentinel monitors.
    pub const SERVICE: &'static str = "kvservice";

    /// Starts a primary with `replicas` replicas and a Sentinel; waits until every replica is
    /// in sync and the Sentinel knows each of them.
    pub fn start(replicas: usize) -> RedisSentinel {
        let primary = RedisServer::start();
        let replicas: Vec<RedisServer> = (0..replicas)
            .map(|_| {
                let of = primary.port.to_string();
                RedisServer::on(free_port(), &["--replicaof", "127.0.0.1", &of])
            })
            .collect();
        let name = RedisSentinel::SERVICE;
        let sentinel = RedisServer::sentinel(&format!(
            "sentinel monitor {name} 127.0.0.1 {} 1\n\
             sentinel down-after-milliseconds {name} 1000\n\
             sentinel failover-timeout {name} 5000\n",
            primary.port
        ));
        let setup = RedisSentinel {
            primary,
            replicas,
            sentinel,
        };
        setup.wait_synced();
        wait_until(30, "the Sentinel did not learn of every replica", || {
            let known = setup.sentinel.cli(&["sentinel", "replicas", name]);
            setup
                .replicas
                .iter()
                .all(|r| known.contains(&format!("127.0.0.1:{}", r.port)))
        });
        setup
    }

    /// The Sentinel's `redis://` URL.
    pub fn url(&self) -> String {
        self.sentinel.url()
    }

    /// The port of the primary the Sentinel names now.
    pub fn primary_port(&self) -> u16 {
        let answer = self.sentinel.cli(&[
            "sentinel",
            "get-master-addr-by-name",
            RedisSentinel::SERVICE,
        ]);
        answer
            .lines()
            .nth(1)
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("no primary from the Sentinel: {answer:?}"))
    }

    /// Waits until every replica's link to its primary is up (and so in sync).
    pub fn wait_synced(&self) {
        wait_until(30, "the replicas did not sync", || {
            self.replicas.iter().chain([&self.primary]).all(|n| {
                let info = n.cli(&["info", "replication"]);
                info.contains("role:master") || info.contains("master_link_status:up")
            })
        });
    }

    /// Forces a failover (`SENTINEL FAILOVER`) and waits until the Sentinel names a new
    /// primary and that node answers as one; returns its port.
    pub fn failover(&self) -> u16 {
        let before = self.primary_port();
        self.sentinel
            .cli(&["sentinel", "failover", RedisSentinel::SERVICE]);
        let mut after = before;
        wait_until(30, "the Sentinel did not fail the primary over", || {
            after = self.primary_port();
            after != before
        });
        let node = self
            .replicas
            .iter()
            .chain([&self.primary])
            .find(|n| n.port == after)
            .expect("the new primary is one of the setup's nodes");
        wait_until(30, "the new primary did not become one", || {
            node.cli(&["role"]).starts_with("master")
        });
        let former = self
            .replicas
            .iter()
            .chain([&self.primary])
            .find(|n| n.port == before)
            .expect("the former primary is one of the setup's nodes");
        wait_until(
            30,
            "the Sentinel did not make the former primary a replica",
            || former.cli(&["role"]).starts_with("slave"),
        );
        after
    }
}
