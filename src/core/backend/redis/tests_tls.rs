//! The redis backend over TLS (`rediss://`) against a real `redis-server` with a TLS port and
//! a test CA made with `openssl`: the certificate checks and their messages. The backend's
//! contract over TLS runs in `backend/contract.rs`, on a [`Secure`] server.

use keyvalue_virt_redis_server::{RedisServer, TestCa};

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
