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
    /// The CA file `redis-cli` trusts, for a server that speaks only TLS.
    ca: Option<PathBuf>,
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
        let server = RedisServer {
            port,
            child,
            dir,
            ca: None,
        };
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
    /// (clients are not asked for certificates).
    pub fn tls(ca: &TestCa) -> RedisServer {
        RedisServer::tls_on(free_port(), ca, &[])
    }

    /// Starts a server that speaks only TLS on `port`, with `extra` options (which may
    /// replicate over TLS: `--tls-replication yes` is set).
    pub fn tls_on(port: u16, ca: &TestCa, extra: &[&str]) -> RedisServer {
        let mut args = ca.server_options(port);
        args.extend(extra.iter().map(|arg| arg.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = RedisServer::spawn(port, None, &args);
        server.ca = Some(ca.ca_path());
        server
    }

    /// Starts a Sentinel that speaks only TLS (to its clients and to the servers it monitors)
    /// on a free port, with the configuration `conf`.
    pub fn tls_sentinel(ca: &TestCa, conf: &str) -> RedisServer {
        let port = free_port();
        let mut args = ca.server_options(port);
        args.push("--sentinel".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut server = RedisServer::spawn(port, Some(conf), &args);
        server.ca = Some(ca.ca_path());
        server
    }

    /// `rediss://127.0.0.1:PORT`, for a server started with [`RedisServer::tls`].
    pub fn tls_url(&self) -> String {
        self.tls_url_at("127.0.0.1")
    }

    /// `rediss://HOST:PORT`, for a server that speaks TLS, reached by the name `host`.
    pub fn tls_url_at(&self, host: &str) -> String {
        format!("rediss://{host}:{}", self.port)
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

    /// Runs `redis-cli -p PORT ARGS` (with `--tls --cacert CA` on a TLS server) and returns
    /// its stdout, trimmed; panics if it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = cli_command(self.ca.as_deref())
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        assert!(output.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

/// `redis-cli`, over TLS trusting `ca` if given (redis-cli checks the chain, not the name).
fn cli_command(ca: Option<&std::path::Path>) -> Command {
    let mut command = Command::new("redis-cli");
    if let Some(ca) = ca {
        command.arg("--tls").arg("--cacert").arg(ca);
    }
    command
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

/// A test certificate authority and a server certificate it issued (by default for the IP
/// address `127.0.0.1` only, so `localhost` does not match), made with the `openssl` CLI in a
/// scratch directory: `ca.crt`, `server.crt`, `server.key`. Keys are P-256, valid for two
/// days. Every server of a test shares the one server certificate, as the nodes of a managed
/// service share a wildcard one.
pub struct TestCa {
    /// The directory that holds the files.
    pub dir: PathBuf,
}

impl TestCa {
    /// Makes a new CA and a server certificate for `127.0.0.1`.
    pub fn new() -> TestCa {
        TestCa::for_names("IP:127.0.0.1")
    }

    /// Makes a new CA and a server certificate whose subjectAltName is `names` (such as
    /// `DNS:localhost`, which `127.0.0.1` does not match).
    pub fn for_names(names: &str) -> TestCa {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kv-ca-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a scratch directory for the test CA");
        std::fs::write(dir.join("server.ext"), format!("subjectAltName={names}\n"))
            .expect("write server.ext");
        const EC: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        let steps = [
            // A name of its own, so that two test CAs are told apart by name, as real ones are.
            format!(
                "req -x509 {EC} -keyout ca.key -out ca.crt -days 2 -subj /CN=kv-test-ca-{}",
                dir.file_name().unwrap_or_default().to_string_lossy()
            ),
            format!("req {EC} -keyout server.key -out server.csr -subj /CN=kv-test-server"),
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

    /// The options of a `redis-server` that speaks only TLS on `port` with this certificate,
    /// to its clients, its replicas and the cluster bus.
    fn server_options(&self, port: u16) -> Vec<String> {
        let path = |file: &str| self.dir.join(file).display().to_string();
        [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &path("server.crt"),
            "--tls-key-file",
            &path("server.key"),
            "--tls-ca-cert-file",
            &path("ca.crt"),
            "--tls-auth-clients",
            "no",
            "--tls-replication",
            "yes",
        ]
        .map(String::from)
        .to_vec()
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
        RedisCluster::build(primaries, replicas, None)
    }

    /// The same with nodes that speak only TLS, with `ca`'s certificate, to their clients and
    /// to each other (`--tls-cluster yes`, `--tls-replication yes`): `CLUSTER SLOTS` and
    /// redirects name their TLS ports.
    pub fn tls(ca: &TestCa, primaries: usize, replicas: usize) -> RedisCluster {
        RedisCluster::build(primaries, replicas, Some(ca))
    }

    fn build(primaries: usize, replicas: usize, ca: Option<&TestCa>) -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..primaries * (1 + replicas))
            .map(|_| RedisCluster::node(cluster_port(), ca))
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = cli_command(ca.map(TestCa::ca_path).as_deref())
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
        let node = RedisCluster::node(cluster_port(), None);
        node.cli(&["cluster", "addslotsrange", "0", "16383"]);
        let cluster = RedisCluster { nodes: vec![node] };
        cluster.wait_ok(&cluster.nodes);
        cluster
    }

    fn node(port: u16, ca: Option<&TestCa>) -> RedisServer {
        let conf = format!("nodes-{port}.conf");
        let options = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            &conf,
            "--cluster-node-timeout",
            "1000",
        ];
        match ca {
            None => RedisServer::on(port, &options),
            Some(ca) => RedisServer::tls_on(
                port,
                ca,
                &[&options[..], &["--tls-cluster", "yes"]].concat(),
            ),
        }
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

    /// Every node's `rediss://HOST:PORT` URL, for a cluster started with [`RedisCluster::tls`].
    pub fn tls_urls(&self, host: &str) -> Vec<String> {
        self.nodes.iter().map(|n| n.tls_url_at(host)).collect()
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
        RedisSentinel::build(replicas, None)
    }

    /// The same with every node and the Sentinel speaking only TLS, with `ca`'s certificate
    /// (the replicas and the Sentinel reach the primary over TLS too).
    pub fn tls(ca: &TestCa, replicas: usize) -> RedisSentinel {
        RedisSentinel::build(replicas, Some(ca))
    }

    fn build(replicas: usize, ca: Option<&TestCa>) -> RedisSentinel {
        let data = |extra: &[&str]| match ca {
            None => RedisServer::on(free_port(), extra),
            Some(ca) => RedisServer::tls_on(free_port(), ca, extra),
        };
        let primary = data(&[]);
        let replicas: Vec<RedisServer> = (0..replicas)
            .map(|_| data(&["--replicaof", "127.0.0.1", &primary.port.to_string()]))
            .collect();
        let name = RedisSentinel::SERVICE;
        let conf = format!(
            "sentinel monitor {name} 127.0.0.1 {} 1\n\
             sentinel down-after-milliseconds {name} 1000\n\
             sentinel failover-timeout {name} 5000\n",
            primary.port
        );
        let sentinel = match ca {
            None => RedisServer::sentinel(&conf),
            Some(ca) => RedisServer::tls_sentinel(ca, &conf),
        };
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

    /// Waits until every replica has processed everything the primary had written when this
    /// was called: its `slave_repl_offset` reaches the primary's `master_repl_offset`. (`WAIT`
    /// sent from `redis-cli` proves nothing: it waits for that connection's own writes, and
    /// a fresh connection has none, so it answers at once.)
    pub fn wait_replicated(&self) {
        let written = replication(&self.primary, "master_repl_offset");
        wait_until(
            30,
            "the replicas did not confirm the primary's writes",
            || {
                self.replicas
                    .iter()
                    .all(|replica| replication(replica, "slave_repl_offset") >= written)
            },
        );
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

/// The number `field` in `node`'s `INFO replication`.
pub fn replication(node: &RedisServer, field: &str) -> u64 {
    let info = node.cli(&["info", "replication"]);
    info.lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .strip_prefix(':')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no `{field}` in INFO replication of {}: {info}", node.port))
}
