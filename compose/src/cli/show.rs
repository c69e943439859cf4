//! How `keyvalue-virt config` shows a configuration: as readable text, or as JSON.

use std::fmt::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyvalue_virt_compose::config::{
    BackendKind, Config, ErrorCase, RedisConfig, SyncMode, Trace, mask,
};
use serde_json::{Value, json};

use super::options::{fault_spelling, quoted_list, shell_word};
use super::seed_file;

/// Text values longer than this many characters are cut in the text form.
const SHOWN_CHARS: usize = 60;

/// The configuration as readable text; `baked` is `None` for a component with nothing baked
/// in, which runs with the defaults.
pub fn text(file: &str, baked: Option<&Config>) -> String {
    let default = Config::default();
    let (config, mut out) = match baked {
        Some(config) => (config, format!("configuration baked into `{file}`:\n")),
        None => (
            &default,
            format!("nothing is baked into `{file}`; it runs with the defaults:\n"),
        ),
    };
    let mut row = |name: &str, lines: Vec<String>| {
        for (i, line) in lines.iter().enumerate() {
            let label = if i == 0 { name } else { "" };
            // Writing to a String cannot fail.
            let _ = writeln!(out, "  {label:<16}{line}");
        }
    };

    row(
        "backend",
        vec![match (config.backend, &config.dir) {
            (BackendKind::Memory, _) => "memory".to_owned(),
            (BackendKind::Fs, Some(dir)) => format!("fs, in `{dir}`"),
            (BackendKind::Fs, None) => "fs (no directory set)".to_owned(),
            (BackendKind::Redis, _) => "redis".to_owned(),
        }],
    );
    // Passwords are baked in, but never printed.
    if config.backend == BackendKind::Redis {
        let masked = || config.redis.urls.iter().map(|url| mask(url)).collect();
        match (&config.redis.sentinel, &config.redis.url_env) {
            (Some(service), _) => {
                row("sentinel", masked());
                row("service", vec![service.clone()]);
            }
            (None, Some(name)) => row(
                "url",
                vec![format!("from the environment variable `{name}`")],
            ),
            (None, None) => row("url", masked()),
        }
        let topology = match (&config.redis.sentinel, config.redis.topology) {
            (Some(_), _) => "the primary the Sentinels name (asked again after a failover)",
            (None, Some(declared)) => declared.name(),
            (None, None) => "asked of the server",
        };
        row("topology", vec![topology.to_owned()]);
        row("key prefix", vec![format!("{:?}", config.redis.key_prefix)]);
        let timeout = config
            .redis
            .timeout_ms
            .unwrap_or(RedisConfig::DEFAULT_TIMEOUT_MS);
        row("timeout", vec![format!("{timeout} ms")]);
        row("tls", vec![tls_text(&config.redis)]);
    }
    // Like the directory, the sync mode means something only to the fs backend.
    if config.backend == BackendKind::Fs {
        row("sync", vec![sync_text(config.sync)]);
    }
    row(
        "buckets",
        vec![if config.allow.is_empty() {
            "any".to_owned()
        } else {
            format!("only {}", quoted_list(&config.allow))
        }],
    );
    row(
        "denied buckets",
        vec![if config.deny.is_empty() {
            "none".to_owned()
        } else {
            quoted_list(&config.deny)
        }],
    );
    row("read-only", vec![yes_no(config.read_only, "yes", "no")]);
    row(
        "max value size",
        vec![config.max_value_size.map_or("no limit".to_owned(), size)],
    );
    row(
        "max keys",
        vec![
            config
                .max_keys
                .map_or("no limit".to_owned(), |n| format!("{n} per bucket")),
        ],
    );
    row(
        "page keys",
        vec![
            config
                .page_keys
                .map_or("1000 per list-keys page".to_owned(), |n| {
                    format!("{n} per list-keys page")
                }),
        ],
    );
    row(
        "trace",
        vec![
            match config.trace {
                Trace::Off => "off",
                Trace::Text => "on",
                Trace::Json => "on, JSON lines",
            }
            .to_owned(),
        ],
    );
    row(
        "faults",
        if config.faults.is_empty() {
            vec!["none".to_owned()]
        } else {
            config
                .faults
                .iter()
                .map(|fault| format!("--fail {}", shell_word(&fault_spelling(fault))))
                .collect()
        },
    );
    row(
        "seeds",
        if config.seeds.is_empty() {
            vec!["none".to_owned()]
        } else {
            config
                .seeds
                .iter()
                .map(|seed| {
                    format!(
                        "bucket {:?}, key {:?}: {}",
                        seed.bucket,
                        seed.key,
                        value_text(&seed.value)
                    )
                })
                .collect()
        },
    );
    out
}

/// The configuration as JSON; seeds are in the `--seed-file` shape.
pub fn json(baked: Option<&Config>) -> Value {
    let default = Config::default();
    let config = baked.unwrap_or(&default);
    let faults: Vec<Value> = config
        .faults
        .iter()
        .map(|fault| {
            let message = match &fault.error {
                ErrorCase::Other(message) => Some(message.as_str()),
                ErrorCase::NoSuchStore | ErrorCase::AccessDenied => None,
            };
            let mut value = json!({
                "op": fault.op.name(),
                "error": fault.error.name(),
                "message": message,
                "call": fault.nth,
            });
            // Only where given, so that unscoped faults print as they always have.
            if let Some(object) = value.as_object_mut() {
                if let Some(bucket) = &fault.bucket {
                    object.insert("bucket".into(), json!(bucket));
                }
                if let Some(key) = &fault.key {
                    object.insert("key".into(), json!(key));
                }
            }
            value
        })
        .collect();
    let mut value = json!({
        "baked": baked.is_some(),
        "backend": match config.backend {
            BackendKind::Memory => "memory",
            BackendKind::Fs => "fs",
            BackendKind::Redis => "redis",
        },
        "dir": config.dir,
        "sync": (config.backend == BackendKind::Fs).then(|| config.sync.name()),
        "buckets": config.allow,
        "deny-buckets": config.deny,
        "read-only": config.read_only,
        "max-value-size": config.max_value_size,
        "max-keys": config.max_keys,
        "page-keys": config.page_keys,
        "trace": config.trace != Trace::Off,
        "trace-format": (config.trace != Trace::Off).then(|| config.trace.name()),
        "fail": faults,
        "seeds": seed_file::render(&config.seeds),
    });
    // The redis settings, passwords masked, only where they mean something.
    if config.backend == BackendKind::Redis
        && let Some(object) = value.as_object_mut()
    {
        let urls: Vec<String> = config.redis.urls.iter().map(|url| mask(url)).collect();
        let (urls, sentinels) = match config.redis.sentinel {
            Some(_) => (Vec::new(), urls),
            None => (urls, Vec::new()),
        };
        object.insert("url".into(), json!(urls));
        object.insert("sentinel".into(), json!(sentinels));
        object.insert("sentinel-service".into(), json!(config.redis.sentinel));
        object.insert("url-env".into(), json!(config.redis.url_env));
        let topology = config.redis.topology.map(|t| t.name());
        object.insert("topology".into(), json!(topology));
        object.insert("key-prefix".into(), json!(config.redis.key_prefix));
        object.insert("timeout-ms".into(), json!(config.redis.timeout_ms));
        object.insert("tls".into(), json!(config.redis.tls));
        object.insert("tls-ca".into(), json!(config.redis.tls_ca));
        object.insert(
            "tls-insecure-skip-verify".into(),
            json!(config.redis.tls_insecure_skip_verify),
        );
    }
    value
}

/// Whether the build has TLS, and how it checks a server's certificate.
fn tls_text(redis: &RedisConfig) -> String {
    match (redis.tls, &redis.tls_ca, redis.tls_insecure_skip_verify) {
        (false, _, _) => "no (redis:// only)".to_owned(),
        (true, _, true) => "INSECURE: any server certificate is accepted \
                            (--tls-insecure-skip-verify)"
            .to_owned(),
        (true, Some(pem), false) => {
            let count = keyvalue_virt_core::backend::redis::check_tls_ca(pem).unwrap_or(0);
            format!("certificates checked against the {count} CA certificate(s) of --tls-ca")
        }
        (true, None, false) => {
            "certificates checked against the built-in roots (Mozilla's)".to_owned()
        }
    }
}

/// The sync mode of the fs backend and what it means.
fn sync_text(sync: SyncMode) -> String {
    let meaning = match sync {
        SyncMode::Always => "every write synced to disk before it returns",
        SyncMode::Never => "writes not synced; a machine crash may lose the last ones",
    };
    format!("{} ({meaning})", sync.name())
}

fn yes_no(flag: bool, yes: &str, no: &str) -> String {
    if flag { yes } else { no }.to_owned()
}

/// `bytes` in bytes, with the binary unit it is a whole multiple of.
fn size(bytes: u64) -> String {
    let unit = [(30, "GiB"), (20, "MiB"), (10, "KiB")]
        .into_iter()
        .find(|(shift, _)| bytes >= 1 << shift && bytes.is_multiple_of(1 << shift));
    match unit {
        Some((shift, unit)) => format!("{bytes} bytes ({} {unit})", bytes >> shift),
        None if bytes == 1 => "1 byte".to_owned(),
        None => format!("{bytes} bytes"),
    }
}

/// A seed value: quoted text (cut if long), or base64 for bytes that are not UTF-8.
fn value_text(value: &[u8]) -> String {
    let len = match value.len() {
        1 => "1 byte".to_owned(),
        n => format!("{n} bytes"),
    };
    match std::str::from_utf8(value) {
        Ok(text) if text.chars().count() <= SHOWN_CHARS => format!("{text:?}"),
        Ok(text) => {
            let cut: String = text.chars().take(SHOWN_CHARS).collect();
            format!("{cut:?}... ({len})")
        }
        Err(_) if value.len() <= SHOWN_CHARS / 4 * 3 => {
            format!("base64 {} ({len})", STANDARD.encode(value))
        }
        Err(_) => format!(
            "base64 {}... ({len}, not UTF-8)",
            STANDARD.encode(&value[..SHOWN_CHARS / 4 * 3])
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyvalue_virt_compose::config::{Fault, Op, Seed};

    fn sample() -> Config {
        Config {
            backend: BackendKind::Fs,
            dir: Some("/kv".into()),
            sync: SyncMode::Never,
            allow: vec!["a".into(), "".into()],
            deny: vec!["x".into()],
            read_only: true,
            max_value_size: Some(4 << 20),
            max_keys: Some(10),
            page_keys: None,
            trace: Trace::Text,
            faults: vec![
                Fault::new(Op::Get, Some(3), ErrorCase::Other("disk full".into())),
                Fault::new(Op::Open, None, ErrorCase::NoSuchStore),
            ],
            seeds: vec![
                Seed {
                    bucket: "a".into(),
                    key: "k".into(),
                    value: b"hello".to_vec(),
                },
                Seed {
                    bucket: "".into(),
                    key: "bin".into(),
                    value: vec![0, 255],
                },
            ],
            redis: RedisConfig::default(),
        }
    }

    #[test]
    fn redis_passwords_are_masked() {
        let config = Config {
            backend: BackendKind::Redis,
            redis: RedisConfig {
                urls: vec!["redis://me:hunter2@h:1/2".into(), "redis://h:2".into()],
                key_prefix: "app:".into(),
                timeout_ms: None,
                ..RedisConfig::default()
            },
            ..Config::default()
        };
        let shown = text("kv.wasm", Some(&config));
        assert!(
            shown.contains("url             redis://me:***@h:1/2\n")
                && shown.contains("redis://h:2\n"),
            "{shown}"
        );
        assert!(
            shown.contains("5000 ms") && !shown.contains("hunter2"),
            "{shown}"
        );
        let json = json(Some(&config)).to_string();
        assert!(
            json.contains("redis://me:***@h:1/2") && !json.contains("hunter2"),
            "{json}"
        );
    }

    #[test]
    fn sentinels_and_their_service_are_shown_without_passwords() {
        let config = Config {
            backend: BackendKind::Redis,
            redis: RedisConfig {
                urls: vec![
                    "redis://:hunter2@s1:26379".into(),
                    "redis://s2:26379".into(),
                ],
                sentinel: Some("mymaster".into()),
                ..RedisConfig::default()
            },
            ..Config::default()
        };
        let shown = text("kv.wasm", Some(&config));
        assert!(
            shown.contains("sentinel        redis://:***@s1:26379\n")
                && shown.contains("redis://s2:26379\n")
                && shown.contains("service         mymaster\n")
                && shown.contains("topology        the primary the Sentinels name")
                && !shown.contains("url ")
                && !shown.contains("hunter2"),
            "{shown}"
        );
        let json = json(Some(&config));
        assert_eq!(json["sentinel"][0], "redis://:***@s1:26379");
        assert_eq!(json["sentinel-service"], "mymaster");
        assert_eq!(json["url"].as_array().map(Vec::len), Some(0));
        assert!(!json.to_string().contains("hunter2"));
    }

    #[test]
    fn a_url_from_the_environment_shows_the_variable() {
        let config = Config {
            backend: BackendKind::Redis,
            redis: RedisConfig {
                url_env: Some("REDIS_URL".into()),
                topology: Some(keyvalue_virt_core::config::RedisTopology::Cluster),
                ..RedisConfig::default()
            },
            ..Config::default()
        };
        let shown = text("kv.wasm", Some(&config));
        assert!(
            shown.contains("url             from the environment variable `REDIS_URL`\n")
                && shown.contains("topology        cluster\n"),
            "{shown}"
        );
        let json = json(Some(&config));
        assert_eq!(json["url-env"], "REDIS_URL");
        assert_eq!(json["topology"], "cluster");
    }

    #[test]
    fn text_shows_every_field() {
        assert_eq!(
            text("kv.wasm", Some(&sample())),
            r#"configuration baked into `kv.wasm`:
  backend         fs, in `/kv`
  sync            never (writes not synced; a machine crash may lose the last ones)
  buckets         only "a", ""
  denied buckets  "x"
  read-only       yes
  max value size  4194304 bytes (4 MiB)
  max keys        10 per bucket
  page keys       1000 per list-keys page
  trace           on
  faults          --fail 'get=other:disk full@3'
                  --fail open=no-such-store
  seeds           bucket "a", key "k": "hello"
                  bucket "", key "bin": base64 AP8= (2 bytes)
"#
        );
    }

    #[test]
    fn text_of_a_plain_component_shows_the_defaults() {
        assert_eq!(
            text("kv.wasm", None),
            "nothing is baked into `kv.wasm`; it runs with the defaults:
  backend         memory
  buckets         any
  denied buckets  none
  read-only       no
  max value size  no limit
  max keys        no limit
  page keys       1000 per list-keys page
  trace           off
  faults          none
  seeds           none
"
        );
    }

    #[test]
    fn json_shows_every_field() {
        assert_eq!(
            json(Some(&sample())),
            json!({
                "baked": true,
                "backend": "fs",
                "dir": "/kv",
                "sync": "never",
                "buckets": ["a", ""],
                "deny-buckets": ["x"],
                "read-only": true,
                "max-value-size": 4194304,
                "max-keys": 10,
                "page-keys": null,
                "trace": true,
                "trace-format": "text",
                "fail": [
                    {"op": "get", "error": "other", "message": "disk full", "call": 3},
                    {"op": "open", "error": "no-such-store", "message": null, "call": null},
                ],
                "seeds": {"a": {"k": "hello"}, "": {"bin": {"base64": "AP8="}}},
            })
        );
        assert_eq!(json(None)["baked"], json!(false));
        assert_eq!(json(None)["backend"], json!("memory"));
        assert_eq!(json(None)["sync"], Value::Null);
    }

    #[test]
    fn the_sync_mode_is_shown_for_the_fs_backend_only() {
        let fs = Config {
            backend: BackendKind::Fs,
            dir: Some("/kv".into()),
            ..Config::default()
        };
        assert!(text("kv.wasm", Some(&fs)).contains(
            "\n  sync            always (every write synced to disk before it returns)\n"
        ));
        assert_eq!(json(Some(&fs))["sync"], json!("always"));
        let memory = Config {
            read_only: true,
            ..Config::default()
        };
        assert!(!text("kv.wasm", Some(&memory)).contains("sync"));
        assert_eq!(json(Some(&memory))["sync"], Value::Null);
    }

    #[test]
    fn sizes_show_their_unit() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1), "1 byte");
        assert_eq!(size(1000), "1000 bytes");
        assert_eq!(size(1024), "1024 bytes (1 KiB)");
        assert_eq!(size(1536), "1536 bytes");
        assert_eq!(size(3 << 30), "3221225472 bytes (3 GiB)");
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(100);
        assert_eq!(
            value_text(long.as_bytes()),
            format!("{:?}... (100 bytes)", "x".repeat(60))
        );
        assert!(value_text(&[0xff; 100]).ends_with("... (100 bytes, not UTF-8)"));
        assert_eq!(value_text(b"a\nb"), r#""a\nb""#);
    }
}
