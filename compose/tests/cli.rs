//! Runs the real `keyvalue-virt` binary: every option, every kind of bad input, `build` then
//! `config` round trips, and `plug` on made-up apps and on the real example app.

mod common;

use std::path::{Path, PathBuf};

use common::{kv, scratch};
use keyvalue_virt_artifacts::conformance::{DRAFT2_PATH, DRAFT2_SPIN_PATH};
use keyvalue_virt_artifacts::guests::{COUNTER, HTTP_COUNTER};
use keyvalue_virt_compose::config::{
    BackendKind, Config, ErrorCase, Fault, Op, Seed, SyncMode, Trace,
};
use keyvalue_virt_compose::{bake, keyvalue_imports};
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::{Value, json};
use tempfile::TempDir;

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("failed to read `{}`: {e}", path.display()))
}

fn write(dir: &TempDir, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs `build -o OUT ARGS` and returns the configuration baked into OUT.
fn build_config(args: &[&str]) -> Option<Config> {
    let dir = scratch();
    let out = dir.path().join("kv.wasm");
    kv().arg("build")
        .arg("-o")
        .arg(&out)
        .args(args)
        .assert()
        .success();
    bake::read(&read(&out)).expect("the output has a readable configuration slot")
}

/// Runs `config --json FILE` and parses its output.
fn config_json(file: &Path) -> Value {
    let output = kv()
        .arg("config")
        .arg("--json")
        .arg(file)
        .assert()
        .success();
    serde_json::from_slice(&output.get_output().stdout).expect("`config --json` prints JSON")
}

/// An app that imports some `wasi:keyvalue` interfaces as empty instances, which any export of
/// the virt satisfies, and `wasi:cli/environment`.
fn wat_app(imports: &[&str]) -> Vec<u8> {
    let imports: String = imports
        .iter()
        .map(|name| format!("(import \"{name}\" (instance))\n"))
        .collect();
    wat::parse_str(format!(
        "(component {imports} (import \"wasi:cli/environment@0.2.0\" (instance)))"
    ))
    .unwrap()
}

// --- help ---

#[test]
fn help_lists_the_commands_with_examples() {
    kv().arg("--help").assert().success().stdout(
        contains("Usage: keyvalue-virt <COMMAND>")
            .and(contains("build "))
            .and(contains("plug "))
            .and(contains("config "))
            .and(contains("Examples:")),
    );
}

#[test]
fn each_command_has_help_with_an_example() {
    for (command, usage, example) in [
        (
            "build",
            "Usage: keyvalue-virt build [OPTIONS] --output <OUT.wasm>",
            "keyvalue-virt build -o kv.wasm",
        ),
        (
            "plug",
            "Usage: keyvalue-virt plug [OPTIONS] --output <OUT.wasm> <APP.wasm>",
            "keyvalue-virt plug app.wasm -o app-kv.wasm",
        ),
        (
            "config",
            "Usage: keyvalue-virt config [OPTIONS] <FILE>",
            "keyvalue-virt config kv.wasm",
        ),
    ] {
        kv().args([command, "--help"]).assert().success().stdout(
            contains(usage)
                .and(contains("Examples:"))
                .and(contains(example)),
        );
    }
    for command in ["build", "plug"] {
        let output = kv().args([command, "--help"]).assert().success();
        let help = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
        for option in [
            "--backend <BACKEND>",
            "--dir <GUEST_PATH>",
            "--sync <WHEN>",
            "--bucket <NAME>",
            "--deny-bucket <NAME>",
            "--read-only",
            "--max-value-size <BYTES>",
            "--max-keys <N>",
            "--page-keys <N>",
            "--seed <BUCKET:KEY=VALUE>",
            "--seed-file <FILE.json>",
            "--fail <OP[:BUCKET[/KEY]]=ERROR[@N]>",
            "--trace",
        ] {
            assert!(
                help.contains(option),
                "`{command} --help` lacks {option}:\n{help}"
            );
        }
    }
}

#[test]
fn version_is_printed() {
    kv().arg("--version")
        .assert()
        .success()
        .stdout(contains(concat!(
            "keyvalue-virt ",
            env!("CARGO_PKG_VERSION")
        )));
}

// --- build and config ---

#[test]
fn build_without_options_writes_the_component_as_shipped() {
    let dir = scratch();
    let out = dir.path().join("kv.wasm");
    kv().args(["build", "-o"])
        .arg(&out)
        .assert()
        .success()
        .stderr(contains(
            "as shipped (nothing baked in; the defaults apply)",
        ));
    let plain = read(&out);
    assert_eq!(bake::read(&plain).unwrap(), None);
    assert!(keyvalue_imports(&plain).unwrap().is_empty());

    // Options that only repeat the defaults bake nothing either.
    let same = dir.path().join("same.wasm");
    kv().args(["build", "--backend", "memory", "-o"])
        .arg(&same)
        .assert()
        .success();
    assert_eq!(read(&same), plain);

    kv().arg("config")
        .arg(&out)
        .assert()
        .success()
        .stdout(contains("nothing is baked into").and(contains("runs with the defaults")));
    assert_eq!(config_json(&out)["baked"], json!(false));
}

#[test]
fn each_option_round_trips_through_build_and_config() {
    let dir = scratch();
    let value_file = write(&dir, "value.bin", [0u8, 1, 255]);
    let seed_file = write(
        &dir,
        "seeds.json",
        r#"{"b": {"k": "v", "bin": {"base64": "AP8="}}}"#,
    );
    let value_arg = format!("b:blob=@{}", value_file.display());
    let seed_file_arg = seed_file.to_str().unwrap();
    let seed = |bucket: &str, key: &str, value: &[u8]| Seed {
        bucket: bucket.into(),
        key: key.into(),
        value: value.to_vec(),
    };
    let fault = Fault::new;

    let cases: Vec<(Vec<&str>, Config)> = vec![
        (
            vec!["--backend", "fs", "--dir", "/kv"],
            Config {
                backend: BackendKind::Fs,
                dir: Some("/kv".into()),
                ..Config::default()
            },
        ),
        (
            vec!["--backend", "fs", "--dir", "/kv", "--sync", "never"],
            Config {
                backend: BackendKind::Fs,
                dir: Some("/kv".into()),
                sync: SyncMode::Never,
                ..Config::default()
            },
        ),
        (
            vec!["--backend", "fs", "--dir", "/kv", "--sync", "always"],
            Config {
                backend: BackendKind::Fs,
                dir: Some("/kv".into()),
                ..Config::default()
            },
        ),
        (
            vec!["--bucket", "a", "--bucket", "", "--bucket", "a"],
            Config {
                allow: vec!["a".into(), "".into()],
                ..Config::default()
            },
        ),
        (
            vec!["--deny-bucket", "x", "--deny-bucket", "y"],
            Config {
                deny: vec!["x".into(), "y".into()],
                ..Config::default()
            },
        ),
        (
            vec!["--read-only"],
            Config {
                read_only: true,
                ..Config::default()
            },
        ),
        (
            vec!["--max-value-size", "4MiB"],
            Config {
                max_value_size: Some(4 << 20),
                ..Config::default()
            },
        ),
        (
            vec!["--max-value-size", "1000"],
            Config {
                max_value_size: Some(1000),
                ..Config::default()
            },
        ),
        (
            vec!["--max-value-size", "0"],
            Config {
                max_value_size: Some(0),
                ..Config::default()
            },
        ),
        (
            vec!["--max-keys", "0"],
            Config {
                max_keys: Some(0),
                ..Config::default()
            },
        ),
        (
            vec!["--max-keys", "12"],
            Config {
                max_keys: Some(12),
                ..Config::default()
            },
        ),
        (
            vec!["--page-keys", "7"],
            Config {
                page_keys: Some(7),
                ..Config::default()
            },
        ),
        (
            vec!["--trace"],
            Config {
                trace: Trace::Text,
                ..Config::default()
            },
        ),
        (
            vec!["--trace=json"],
            Config {
                trace: Trace::Json,
                ..Config::default()
            },
        ),
        (
            vec![
                "--seed",
                "b:k=v=w:x",
                "--seed",
                ":=",
                "--seed",
                "b:at=@@home",
            ],
            Config {
                seeds: vec![
                    seed("b", "k", b"v=w:x"),
                    seed("", "", b""),
                    seed("b", "at", b"@home"),
                ],
                ..Config::default()
            },
        ),
        (
            vec!["--seed", &value_arg],
            Config {
                seeds: vec![seed("b", "blob", &[0, 1, 255])],
                ..Config::default()
            },
        ),
        (
            vec!["--seed-file", seed_file_arg],
            Config {
                seeds: vec![seed("b", "bin", &[0, 255]), seed("b", "k", b"v")],
                ..Config::default()
            },
        ),
        (
            vec![
                "--fail",
                "open=no-such-store",
                "--fail",
                "set=access-denied@2",
                "--fail",
                "get=other:mail me@example.com",
                "--fail",
                "delete-many=other:a@b@7",
                "--fail",
                "get:users=access-denied",
                "--fail",
                "get:*/session:42=other:gone",
            ],
            Config {
                // Faults on one call first, then those on one key, then on one bucket.
                faults: vec![
                    fault(Op::Set, Some(2), ErrorCase::AccessDenied),
                    fault(Op::DeleteMany, Some(7), ErrorCase::Other("a@b".into())),
                    Fault {
                        key: Some("session:42".into()),
                        ..fault(Op::Get, None, ErrorCase::Other("gone".into()))
                    },
                    Fault {
                        bucket: Some("users".into()),
                        ..fault(Op::Get, None, ErrorCase::AccessDenied)
                    },
                    fault(Op::Open, None, ErrorCase::NoSuchStore),
                    fault(
                        Op::Get,
                        None,
                        ErrorCase::Other("mail me@example.com".into()),
                    ),
                ],
                ..Config::default()
            },
        ),
    ];
    for (args, expected) in cases {
        // A seed file's keys may come in any order.
        let sorted = |mut config: Config| {
            config
                .seeds
                .sort_by(|a, b| (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key)));
            config
        };
        let seeds_in_order = !args.contains(&"--seed-file");
        let baked = build_config(&args).expect("something is baked");
        if seeds_in_order {
            assert_eq!(baked, expected, "{args:?}");
        } else {
            assert_eq!(sorted(baked), sorted(expected), "{args:?}");
        }
    }

    for op in Op::ALL {
        let spelling = format!("{}=access-denied", op.name());
        let config = build_config(&["--fail", &spelling]).unwrap();
        assert_eq!(
            config.faults,
            [fault(op, None, ErrorCase::AccessDenied)],
            "{spelling}"
        );
    }
}

#[test]
fn build_then_config_shows_every_option() {
    let dir = scratch();
    let seeds = write(
        &dir,
        "seeds.json",
        r#"{"users": {"avatar": {"base64": "AP8="}}}"#,
    );
    let out = dir.path().join("kv.wasm");
    kv().args(["build", "-o"])
        .arg(&out)
        .args([
            "--bucket",
            "users",
            "--bucket",
            "",
            "--deny-bucket",
            "admin",
            "--read-only",
        ])
        .args(["--max-value-size", "1KiB", "--max-keys", "5", "--trace"])
        .args(["--page-keys", "20"])
        .args(["--seed", r#"users:alice={"age": 30}"#, "--seed-file"])
        .arg(&seeds)
        .args([
            "--fail",
            "get=other:disk full@3",
            "--fail",
            "open=no-such-store",
        ])
        .assert()
        .success()
        .stderr(contains("with the configuration baked in"));

    let expected_text = format!(
        r#"configuration baked into `{}`:
  backend         memory
  buckets         only "users", ""
  denied buckets  "admin"
  read-only       yes
  max value size  1024 bytes (1 KiB)
  max keys        5 per bucket
  page keys       20 per list-keys page
  trace           on
  faults          --fail 'get=other:disk full@3'
                  --fail open=no-such-store
  seeds           bucket "users", key "avatar": base64 AP8= (2 bytes)
                  bucket "users", key "alice": "{{\"age\": 30}}"
"#,
        out.display()
    );
    kv().arg("config")
        .arg(&out)
        .assert()
        .success()
        .stdout(expected_text);

    assert_eq!(
        config_json(&out),
        json!({
            "baked": true,
            "backend": "memory",
            "dir": null,
            "sync": null,
            "buckets": ["users", ""],
            "deny-buckets": ["admin"],
            "read-only": true,
            "max-value-size": 1024,
            "max-keys": 5,
            "page-keys": 20,
            "trace": true,
            "trace-format": "text",
            "fail": [
                {"op": "get", "error": "other", "message": "disk full", "call": 3},
                {"op": "open", "error": "no-such-store", "message": null, "call": null},
            ],
            "seeds": {"users": {"alice": "{\"age\": 30}", "avatar": {"base64": "AP8="}}},
        })
    );
}

#[test]
fn config_json_seeds_are_a_seed_file() {
    let dir = scratch();
    let first = dir.path().join("first.wasm");
    kv().args(["build", "-o"])
        .arg(&first)
        .args(["--seed", "a:text=héllo", "--seed", "b:=", "--seed", ":k=v"])
        .assert()
        .success();
    let seeds = write(&dir, "seeds.json", config_json(&first)["seeds"].to_string());
    let second = dir.path().join("second.wasm");
    kv().args(["build", "-o"])
        .arg(&second)
        .arg("--seed-file")
        .arg(&seeds)
        .assert()
        .success();
    assert_eq!(config_json(&first)["seeds"], config_json(&second)["seeds"]);
}

#[test]
fn fs_backend_is_shown_with_its_directory() {
    let dir = scratch();
    let out = dir.path().join("kv.wasm");
    kv().args(["build", "--backend", "fs", "--dir", "/data/kv", "-o"])
        .arg(&out)
        .assert()
        .success();
    kv().arg("config").arg(&out).assert().success().stdout(
        contains("backend         fs, in `/data/kv`").and(contains(
            "sync            always (every write synced to disk before it returns)",
        )),
    );
    assert_eq!(config_json(&out)["dir"], json!("/data/kv"));
    assert_eq!(config_json(&out)["sync"], json!("always"));
}

#[test]
fn sync_never_is_baked_and_shown() {
    let dir = scratch();
    let out = dir.path().join("kv.wasm");
    kv().args(["build", "-o"])
        .arg(&out)
        .args(["--backend", "fs", "--dir", "/kv", "--sync", "never"])
        .assert()
        .success()
        .stderr(contains("with the configuration baked in"));
    kv().arg("config")
        .arg(&out)
        .assert()
        .success()
        .stdout(contains(
            "sync            never (writes not synced; a machine crash may lose the last ones)",
        ));
    let json = config_json(&out);
    assert_eq!(
        (&json["backend"], &json["dir"], &json["sync"]),
        (&json!("fs"), &json!("/kv"), &json!("never"))
    );
}

// --- bad input ---

/// Runs `build` with `args` and checks that it fails with a message containing each of
/// `expected`, and writes nothing.
#[track_caller]
fn refused(args: &[&str], expected: &[&str]) {
    let dir = scratch();
    let out = dir.path().join("kv.wasm");
    let output = kv()
        .arg("build")
        .arg("-o")
        .arg(&out)
        .args(args)
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    for part in expected {
        assert!(
            stderr.contains(part),
            "{args:?}: expected {part:?} in:\n{stderr}"
        );
    }
    assert!(!out.exists(), "{args:?}: wrote `{}` anyway", out.display());
}

#[test]
fn bad_fail_values_are_refused() {
    let option = "for '--fail <OP[:BUCKET[/KEY]]=ERROR[@N]>'";
    refused(
        &["--fail", "get"],
        &[
            "invalid value 'get'",
            option,
            "expected OP[:BUCKET[/KEY]]=ERROR[@N], like `get=access-denied`",
        ],
    );
    refused(
        &["--fail", "get=boom"],
        &[
            "invalid value 'get=boom'",
            option,
            "ERROR must be no-such-store, access-denied or other:MESSAGE, not `boom`",
        ],
    );
    refused(
        &["--fail", "fetch=access-denied"],
        &["unknown operation `fetch`; OP is one of open, get, set"],
    );
    refused(
        &["--fail", "get=access-denied@0"],
        &["calls are counted from 1: write `@1`"],
    );
    refused(
        &["--fail", "get=no-such-store@x"],
        &["not `no-such-store@x`"],
    );
    refused(&["--fail", "get=other"], &["not `other`"]);
    refused(
        &["--fail", "get=access-denied@99999999999999999999"],
        &["call number `99999999999999999999` is too large"],
    );
    refused(
        &["--fail", "get=access-denied@2", "--fail", "get=other:x@2"],
        &[
            "--fail `get=access-denied@2` and --fail `get=other:x@2` both decide the same calls of `get`",
        ],
    );
}

#[test]
fn bad_seed_values_are_refused() {
    let option = "for '--seed <BUCKET:KEY=VALUE>'";
    refused(
        &["--seed", "nocolon=1"],
        &[option, "no `:` after the bucket; expected BUCKET:KEY=VALUE"],
    );
    refused(&["--seed", "b:noequals"], &[option, "no `=` after the key"]);
    refused(
        &["--seed", "b:k=@"],
        &[option, "`=@` must be followed by a file name"],
    );
    refused(
        &["--seed", "b:k=@/nonexistent/value.bin"],
        &["failed to read `/nonexistent/value.bin` for --seed `b:k=@/nonexistent/value.bin`"],
    );
    refused(
        &["--seed", "a:k=1", "--seed", "a:k=2"],
        &[
            r#"the seed of key "k" in bucket "a" (--seed `a:k=2`) is seeded twice, also by --seed `a:k=1`"#,
        ],
    );
}

#[test]
fn seeds_that_could_never_be_read_are_refused() {
    refused(
        &["--bucket", "a", "--seed", "b:k=v"],
        &[
            r#"the seed of key "k" in bucket "b" (--seed `b:k=v`) could never be read"#,
            r#"not in the --bucket allow list ("a"); add `--bucket b`"#,
        ],
    );
    refused(
        &["--deny-bucket", "b", "--seed", "b:k=v"],
        &["could never be read: the bucket is denied by --deny-bucket"],
    );
    refused(
        &["--max-value-size", "2", "--seed", "b:k=abc"],
        &["is 3 bytes, more than --max-value-size 2"],
    );
    refused(
        &["--max-keys", "1", "--seed", "b:k=v", "--seed", "b:l=v"],
        &[r#"bucket "b" is seeded with more than --max-keys 1 keys"#],
    );
}

#[test]
fn bad_scalar_options_are_refused() {
    refused(
        &["--max-value-size", "4XB"],
        &[
            "for '--max-value-size <BYTES>'",
            "unknown unit `XB`; use B, KB, MB, GB, KiB, MiB or GiB",
        ],
    );
    refused(
        &["--max-value-size", "4M"],
        &["unit `M` is ambiguous; write `MiB` (powers of 1024) or `MB`"],
    );
    refused(
        &["--max-value-size", "big"],
        &["expected a number of bytes"],
    );
    refused(
        &["--max-keys=-1"],
        &["invalid value '-1' for '--max-keys <N>'"],
    );
    refused(
        &["--max-keys", "ten"],
        &["invalid value 'ten' for '--max-keys <N>'"],
    );
    refused(
        &["--page-keys", "0"],
        &["invalid value '0' for '--page-keys <N>': 0 is not in 1..=1000"],
    );
    refused(
        &["--page-keys", "1001"],
        &["invalid value '1001' for '--page-keys <N>': 1001 is not in 1..=1000"],
    );
    refused(
        &["--backend", "sqlite"],
        &[
            "invalid value 'sqlite' for '--backend <BACKEND>'",
            "[possible values: memory, fs, redis]",
        ],
    );
    refused(
        &["--backend", "redis"],
        &["--backend redis needs --url redis://HOST:PORT"],
    );
    refused(
        &["--backend", "fs"],
        &["--backend fs needs --dir GUEST_PATH", "`--dir /kv`"],
    );
    refused(
        &["--dir", "/kv"],
        &["--dir `/kv` is only used by the fs backend; add `--backend fs`"],
    );
    refused(
        &["--backend", "fs", "--dir", "/kv", "--sync", "sometimes"],
        &[
            "invalid value 'sometimes' for '--sync <WHEN>'",
            "WHEN must be `always` or `never`, not `sometimes`",
        ],
    );
    refused(
        &["--trace=xml"],
        &[
            "invalid value 'xml' for '--trace[=<FORMAT>]'",
            "FORMAT must be `text` or `json`, not `xml`",
        ],
    );
    refused(
        &["--sync", "never"],
        &["--sync `never` is only used by the fs backend; add `--backend fs`, or drop --sync"],
    );
    refused(
        &["--backend", "memory", "--sync", "always"],
        &["--sync `always` is only used by the fs backend"],
    );
    refused(
        &["--backend", "fs", "--dir", "kv"],
        &[
            "for '--dir <GUEST_PATH>'",
            "GUEST_PATH must be absolute",
            "try `/kv`",
        ],
    );
    refused(
        &["--bucket", "a", "--deny-bucket", "a"],
        &[r#"bucket "a" is both allowed (--bucket) and denied (--deny-bucket)"#],
    );
    refused(&["--frobnicate"], &["unexpected argument '--frobnicate'"]);
}

#[test]
fn a_bad_url_is_refused_without_echoing_its_password() {
    for url in [
        "redis://user:SECRET-hunter2@127.0.0.1",
        "redis://user:SECRET-hunter2@127.0.0.1:99999",
        "redis://:SECRET-hunter2@127.0.0.1:6379/db",
        "http://user:SECRET-hunter2@127.0.0.1:6379",
    ] {
        for command in ["build", "plug"] {
            let dir = scratch();
            let out = dir.path().join("kv.wasm");
            let mut kv = kv();
            kv.arg(command);
            if command == "plug" {
                kv.arg(dir.path().join("app.wasm"));
            }
            let output = kv
                .args(["--backend", "redis", "--url", url, "-o"])
                .arg(&out)
                .assert()
                .failure();
            let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
            assert!(stderr.contains("invalid --url: "), "{url}: {stderr}");
            assert!(!stderr.contains("SECRET"), "{url}: {stderr}");
            assert!(!out.exists(), "{url}: wrote `{}` anyway", out.display());
        }
    }
}

#[test]
fn missing_output_is_refused() {
    kv().arg("build")
        .assert()
        .failure()
        .stderr(contains("--output <OUT.wasm>"));
}

#[test]
fn bad_seed_files_are_refused_naming_the_file_bucket_and_key() {
    let dir = scratch();
    let cases: [(&str, &[u8], &str); 9] = [
        ("broken.json", b"{\"a\": ", "not valid JSON"),
        (
            "latin1.json",
            b"{\"a\": {\"k\": \"caf\xe9\"}}",
            "not valid JSON",
        ),
        (
            "array.json",
            b"[1, 2]",
            "the file holds an array, not an object of buckets; write an object of buckets",
        ),
        (
            "flat.json",
            b"{\"a\": \"v\"}",
            r#"bucket "a" holds a string, not an object of keys; write {"a": {"key": "value"}}"#,
        ),
        (
            "number.json",
            b"{\"a\": {\"k\": 5}}",
            r#"bucket "a", key "k": a value must be a string (UTF-8 text) or {"base64": "..."} (any bytes), found a number"#,
        ),
        (
            "hex.json",
            b"{\"a\": {\"k\": {\"hex\": \"00\"}}}",
            r#"bucket "a", key "k": a value must be"#,
        ),
        (
            "extra.json",
            b"{\"a\": {\"k\": {\"base64\": \"AA==\", \"type\": \"png\"}}}",
            r#"drop the field "type" next to "base64""#,
        ),
        (
            "base64.json",
            b"{\"a\": {\"k\": {\"base64\": \"%%%\"}}}",
            r#"bucket "a", key "k": invalid base64 in "base64""#,
        ),
        (
            "padding.json",
            b"{\"a\": {\"k\": {\"base64\": \"AP8\"}}}",
            "use the standard alphabet with `=` padding",
        ),
    ];
    for (name, contents, expected) in cases {
        let path = write(&dir, name, contents);
        let named = format!("invalid seed file `{}`: ", path.display());
        refused(
            &["--seed-file", path.to_str().unwrap()],
            &[&named, expected],
        );
    }
    refused(
        &["--seed-file", "/nonexistent/seeds.json"],
        &["failed to read seed file `/nonexistent/seeds.json`"],
    );

    let allowed = write(&dir, "ok.json", r#"{"b": {"k": "v"}}"#);
    refused(
        &["--bucket", "a", "--seed-file", allowed.to_str().unwrap()],
        &[&format!(
            "(--seed-file `{}`) could never be read",
            allowed.display()
        )],
    );
}

#[test]
fn an_unwritable_output_is_reported() {
    kv().args(["build", "-o", "/nonexistent/dir/kv.wasm"])
        .assert()
        .failure()
        .stderr(contains(
            "error: failed to write `/nonexistent/dir/kv.wasm`",
        ));
}

#[test]
fn config_of_a_non_virt_is_refused() {
    let dir = scratch();
    let other = write(&dir, "other.wasm", wat_app(&[]));
    kv().arg("config")
        .arg(&other)
        .assert()
        .failure()
        .stderr(contains(format!(
            "`{}` holds no keyvalue-virt (no configuration slot found) and imports no \
             wasi:keyvalue; `config` reads a component written by `keyvalue-virt build`",
            other.display()
        )));
    kv().args(["config", "/nonexistent.wasm"])
        .assert()
        .failure()
        .stderr(contains("failed to read `/nonexistent.wasm`"));
}

// --- plug ---

#[test]
fn plug_refuses_an_app_without_keyvalue_imports() {
    let dir = scratch();
    let app = write(&dir, "app.wasm", wat_app(&[]));
    let out = dir.path().join("out.wasm");
    kv().arg("plug")
        .arg(&app)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(
            contains(format!("failed to plug `{}`", app.display())).and(contains(
                "imports no `wasi:keyvalue` interface, so there is nothing to plug",
            )),
        );
    assert!(!out.exists());
}

#[test]
fn plug_refuses_what_is_not_a_component() {
    let dir = scratch();
    let out = dir.path().join("out.wasm");
    let module = write(&dir, "module.wasm", wat::parse_str("(module)").unwrap());
    kv().arg("plug")
        .arg(&module)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(
            contains(format!(
                "`{}` is a core WebAssembly module; expected a component",
                module.display()
            ))
            .and(contains("cargo build --target wasm32-wasip2"))
            .and(contains("wasm-tools component new")),
        );
    // A manifest passed by mistake: named, with no magic-number array.
    let manifest = write(&dir, "Cargo.toml", "[package]\nname = \"app\"\n");
    for command in ["plug", "config"] {
        let mut cmd = kv();
        cmd.arg(command).arg(&manifest);
        if command == "plug" {
            cmd.arg("-o").arg(&out);
        }
        cmd.assert().failure().stderr(
            contains(format!(
                "`{}` is not a WebAssembly file",
                manifest.display()
            ))
            .and(contains("target/wasm32-wasip2/release/APP.wasm"))
            .and(contains("magic").not()),
        );
    }
    kv().args(["plug", "/nonexistent/app.wasm", "-o"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains("failed to read `/nonexistent/app.wasm`"));
    assert!(!out.exists());
}

#[test]
fn plug_refuses_bad_options_before_reading_the_app() {
    let dir = scratch();
    let out = dir.path().join("out.wasm");
    kv().args(["plug", "/nonexistent/app.wasm", "--fail", "get=boom", "-o"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains("ERROR must be no-such-store").and(contains("app.wasm").not()));
    kv().args([
        "plug",
        "/nonexistent/app.wasm",
        "--bucket",
        "a",
        "--seed",
        "b:k=v",
        "-o",
    ])
    .arg(&out)
    .assert()
    .failure()
    .stderr(contains("could never be read"));
    kv().args(["plug", "/nonexistent/app.wasm", "--sync", "never", "-o"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(
            contains("--sync `never` is only used by the fs backend")
                .and(contains("app.wasm").not()),
        );
    assert!(!out.exists());
}

#[test]
fn plug_refuses_an_app_whose_import_does_not_fit() {
    let dir = scratch();
    // The draft store as an instance with a function the virt does not export.
    let app = write(
        &dir,
        "app.wasm",
        wat::parse_str(
            r#"(component (import "wasi:keyvalue/store@0.2.0-draft"
                (instance (export "frobnicate" (func)))))"#,
        )
        .unwrap(),
    );
    let out = dir.path().join("out.wasm");
    kv().arg("plug")
        .arg(&app)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(
            contains(format!("failed to plug `{}`", app.display())).and(contains(
                "failed to plug the virt's export `wasi:keyvalue/store@0.2.0-draft`",
            )),
        );
    assert!(!out.exists());

    let future = write(&dir, "future.wasm", wat_app(&["wasi:keyvalue/store@0.3.0"]));
    kv().arg("plug")
        .arg(&future)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains(
            "the app imports `wasi:keyvalue/store@0.3.0`, which the virt does not export",
        ));
}

#[test]
fn plug_reports_the_drafts_and_bakes_into_the_nested_virt() {
    let dir = scratch();
    let app = write(
        &dir,
        "app.wasm",
        wat_app(&[
            "wasi:keyvalue/store@0.2.0-draft",
            "wasi:keyvalue/batch@0.2.0-draft",
            "wasi:keyvalue/store@0.2.0-draft2",
            "wasi:keyvalue/atomics@0.2.0-draft2",
        ]),
    );
    let out = dir.path().join("out.wasm");
    kv().arg("plug")
        .arg(&app)
        .arg("-o")
        .arg(&out)
        .args([
            "--bucket",
            "a",
            "--seed",
            "a:k=v",
            "--fail",
            "swap=other:conflict@1",
        ])
        .assert()
        .success()
        .stderr(
            contains(format!(
                "`{}` imports wasi:keyvalue@0.2.0-draft (store, batch)\n",
                app.display()
            ))
            .and(contains(format!(
                "`{}` imports wasi:keyvalue@0.2.0-draft2 (store, atomics)\n",
                app.display()
            )))
            .and(contains(
                "(configuration baked in); no wasi:keyvalue import is left",
            )),
        );
    let composed = read(&out);
    assert!(keyvalue_imports(&composed).unwrap().is_empty());
    assert_eq!(
        bake::read(&composed).unwrap(),
        Some(Config {
            allow: vec!["a".into()],
            seeds: vec![Seed {
                bucket: "a".into(),
                key: "k".into(),
                value: b"v".to_vec()
            }],
            faults: vec![Fault::new(
                Op::Swap,
                Some(1),
                ErrorCase::Other("conflict".into())
            )],
            ..Config::default()
        })
    );
    kv().arg("config")
        .arg(&out)
        .assert()
        .success()
        .stdout(contains("configuration baked into").and(contains(r#"buckets         only "a""#)));
}

#[test]
fn plug_without_options_bakes_nothing() {
    let dir = scratch();
    let app = write(
        &dir,
        "app.wasm",
        wat_app(&["wasi:keyvalue/store@0.2.0-draft2"]),
    );
    let out = dir.path().join("out.wasm");
    kv().arg("plug")
        .arg(&app)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stderr(contains("(nothing baked in; the defaults apply)"));
    assert_eq!(bake::read(&read(&out)).unwrap(), None);
    kv().arg("config")
        .arg(&out)
        .assert()
        .success()
        .stdout(contains("nothing is baked into"));
}

#[test]
fn plug_composes_the_real_example_app() {
    let dir = scratch();
    let out = dir.path().join("counter-kv.wasm");
    kv().arg("plug")
        .arg(COUNTER)
        .arg("-o")
        .arg(&out)
        .args(["--seed", ":alice=41", "--max-keys", "100", "--trace"])
        .assert()
        .success()
        .stderr(contains(
            "imports wasi:keyvalue@0.2.0-draft (store, atomics, batch)\n",
        ));
    let composed = read(&out);
    assert!(keyvalue_imports(&composed).unwrap().is_empty());
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&composed)
        .expect("the plugged app validates");
    let json = config_json(&out);
    assert_eq!(json["seeds"], json!({"": {"alice": "41"}}));
    assert_eq!(json["max-keys"], json!(100));
    assert_eq!(json["trace"], json!(true));
}

/// The top-level export names of `component`.
fn exports(component: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.unwrap() {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentExportSection(reader) if depth == 0 => names.extend(
                reader
                    .into_iter()
                    .map(|export| export.unwrap().name.full_name().into_owned()),
            ),
            _ => {}
        }
    }
    names
}

/// `--control` adds the control interface to the plugged app's exports, with the configuration
/// baked in as without it; without `--control` the app exports only what it did.
#[test]
fn plug_exports_the_control_interface_only_with_control() {
    let dir = scratch();
    let plain = dir.path().join("plain.wasm");
    let control = dir.path().join("control.wasm");
    for (out, extra) in [(&plain, None), (&control, Some("--control"))] {
        kv().arg("plug")
            .arg(COUNTER)
            .arg("-o")
            .arg(out)
            .args(["--seed", ":alice=41"])
            .args(extra)
            .assert()
            .success();
    }
    let (plain, control) = (read(&plain), read(&control));
    assert_eq!(exports(&plain), ["wasi:cli/run@0.2.0"]);
    assert_eq!(
        exports(&control),
        ["wasi:cli/run@0.2.0", "keyvalue-virt:control/control@0.1.0"]
    );
    assert!(keyvalue_imports(&control).unwrap().is_empty());
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&control)
        .expect("the plugged app validates");
    for file in [&plain, &control] {
        assert_eq!(
            bake::read(file).unwrap().map(|config| config.seeds.len()),
            Some(1)
        );
    }
}

/// An app built against draft2 in the shape Spin ships (upstream's open PR #55) is plugged with the
/// build that exports that shape, chosen from its imports and named on stderr; the tagged
/// draft2 app gets the tagged build; `--shape` forces one, and a wrong one fails naming
/// `get-many`.
#[test]
fn plug_picks_the_draft2_shape_the_app_imports() {
    let dir = scratch();
    let out = dir.path().join("out.wasm");
    for (app, shape) in [(DRAFT2_SPIN_PATH, "draft2-spin"), (DRAFT2_PATH, "draft2")] {
        kv().arg("plug")
            .arg(app)
            .arg("-o")
            .arg(&out)
            .args(["--backend", "fs", "--dir", "/kv"])
            .assert()
            .success()
            .stderr(contains(format!("plugging with the `{shape}` build")));
        assert!(keyvalue_imports(&read(&out)).unwrap().is_empty());
    }
    kv().arg("plug")
        .arg(DRAFT2_SPIN_PATH)
        .arg("-o")
        .arg(&out)
        .args(["--shape", "draft2"])
        .assert()
        .failure()
        .stderr(contains("get-many"));
    kv().arg("plug")
        .arg(DRAFT2_PATH)
        .arg("-o")
        .arg(&out)
        .args(["--shape", "draft2-spin"])
        .assert()
        .failure()
        .stderr(contains("pass `--shape draft2`, or drop --shape"));
    kv().args(["build", "--shape", "draft3", "-o"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains(
            "SHAPE must be `draft2` or `draft2-spin`, not `draft3`",
        ));
}

/// `build --shape draft2-spin` writes the build that plugs an app of that shape, which the
/// default build does not.
#[test]
fn build_shape_draft2_spin_writes_the_build_for_spin_apps() {
    let dir = scratch();
    let app = read(Path::new(DRAFT2_SPIN_PATH));
    let mut built = Vec::new();
    for shape in ["draft2", "draft2-spin"] {
        let virt = dir.path().join(format!("{shape}.wasm"));
        kv().args(["build", "--shape", shape, "-o"])
            .arg(&virt)
            .assert()
            .success();
        built.push(read(&virt));
    }
    let error = keyvalue_virt_compose::plug(&app, &built[0]).unwrap_err();
    assert!(format!("{error:?}").contains("get-many"), "{error:?}");
    let composed = keyvalue_virt_compose::plug(&app, &built[1]).expect("the spin build plugs it");
    assert!(keyvalue_imports(&composed).unwrap().is_empty());
}

/// `--shape` naming the other draft2 shape than the app's fails naming the app's shape and the
/// option that fits, not with wac's type error alone.
#[test]
fn plug_with_the_wrong_shape_names_the_right_one() {
    let dir = scratch();
    let out = dir.path().join("out.wasm");
    kv().arg("plug")
        .arg(DRAFT2_SPIN_PATH)
        .arg("-o")
        .arg(&out)
        .args(["--shape", "draft2"])
        .assert()
        .failure()
        .stderr(
            contains(format!(
                "`{DRAFT2_SPIN_PATH}` imports draft2 as Spin ships it (upstream's open PR #55, \
                 not merged)"
            ))
            .and(contains(
                "which the `draft2` build (--shape draft2) does not export",
            ))
            .and(contains("pass `--shape draft2-spin`, or drop --shape"))
            .and(contains("expected tuple").not()),
        );
    assert!(!out.exists());
}

/// An HTTP handler plugged with the memory backend gets a warning with the way out; with fs,
/// or for a command app, there is none.
#[test]
fn plug_warns_an_http_handler_on_the_memory_backend() {
    let dir = scratch();
    let out = dir.path().join("out.wasm");
    let warning = "exports wasi:http/incoming-handler and the memory backend keeps data only as \
                   long as an instance lives";
    for quiet in [false, true] {
        let mut cmd = kv();
        cmd.arg("plug").arg(HTTP_COUNTER).arg("-o").arg(&out);
        if quiet {
            cmd.arg("-q");
        }
        cmd.assert().success().stderr(
            contains(format!("warning: `{HTTP_COUNTER}` {warning}"))
                .and(contains(
                    "`wasmtime serve` starts a fresh instance for every request",
                ))
                .and(contains("plug with `--backend fs --dir /kv`"))
                .and(contains("--backend redis")),
        );
    }
    kv().arg("plug")
        .arg(HTTP_COUNTER)
        .arg("-o")
        .arg(&out)
        .args(["--backend", "fs", "--dir", "/kv"])
        .assert()
        .success()
        .stderr(contains("warning").not());
    kv().arg("plug")
        .arg(COUNTER)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stderr(contains("warning").not());
}

/// Plugging an app that is plugged already, or the component itself, says so and what to do.
#[test]
fn plug_of_a_plugged_app_points_at_config() {
    let dir = scratch();
    let plugged = dir.path().join("plugged.wasm");
    kv().arg("plug")
        .arg(COUNTER)
        .arg("-o")
        .arg(&plugged)
        .assert()
        .success();
    let out = dir.path().join("out.wasm");
    kv().arg("plug")
        .arg(&plugged)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(
            contains(format!(
                "`{0}` is plugged with keyvalue-virt already: no wasi:keyvalue import is left \
                 to plug. See what it has baked in with `keyvalue-virt config {0}`",
                plugged.display()
            ))
            .and(contains("imports no `wasi:keyvalue`").not()),
        );
    let virt = dir.path().join("kv.wasm");
    kv().arg("build").arg("-o").arg(&virt).assert().success();
    kv().arg("plug")
        .arg(&virt)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains(format!(
            "`{}` is the keyvalue-virt component itself",
            virt.display()
        )));
    assert!(!out.exists());
}

/// `config` of an app not plugged yet says so and how to plug it.
#[test]
fn config_of_an_unplugged_app_says_to_plug_it() {
    let dir = scratch();
    let app = write(
        &dir,
        "app.wasm",
        wat_app(&["wasi:keyvalue/store@0.2.0-draft2"]),
    );
    kv().arg("config")
        .arg(&app)
        .assert()
        .failure()
        .stderr(contains(format!(
            "`{0}` is an app that imports wasi:keyvalue but is not plugged yet, so it holds no \
         keyvalue-virt configuration; plug it with `keyvalue-virt plug {0} -o OUT.wasm`, then \
         run `keyvalue-virt config OUT.wasm`",
            app.display()
        )));
}

/// `--timeout-ms` alone without the redis backend is refused naming only `--timeout-ms`.
#[test]
fn a_redis_option_without_redis_names_only_the_option_given() {
    let dir = scratch();
    let out = dir.path().join("kv.wasm");
    kv().args([
        "build",
        "--backend",
        "fs",
        "--dir",
        "/kv",
        "--timeout-ms",
        "5",
        "-o",
    ])
    .arg(&out)
    .assert()
    .failure()
    .stderr(
        contains(
            "--timeout-ms is only used by the redis backend; add `--backend redis`, or \
                 drop --timeout-ms",
        )
        .and(contains("--key-prefix").not()),
    );
    kv().args(["build", "--key-prefix", "p:", "--timeout-ms", "5", "-o"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains(
            "--key-prefix and --timeout-ms are only used by the redis backend",
        ));
}

/// Seeds over 1 MiB in all get a note that the component grows by their size; `-q` silences
/// the notes and the info lines of `build` and `plug`.
#[test]
fn large_seeds_get_a_note_and_quiet_silences_notes() {
    let dir = scratch();
    let big = write(&dir, "big.bin", vec![7u8; 3 << 19]);
    let seed = format!("b:k=@{}", big.display());
    let out = dir.path().join("kv.wasm");
    kv().args(["build", "--seed", &seed, "-o"])
        .arg(&out)
        .assert()
        .success()
        .stderr(contains(
            "note: the seeds are baked into the component, which grows by 1.5 MiB",
        ));
    kv().args(["build", "-q", "--seed", &seed, "-o"])
        .arg(&out)
        .assert()
        .success()
        .stderr("");
    kv().args(["build", "--seed", "b:k=small", "-o"])
        .arg(&out)
        .assert()
        .success()
        .stderr(contains("note").not());
    let plugged = dir.path().join("app.wasm");
    kv().arg("plug")
        .arg(COUNTER)
        .args(["--seed", &seed, "-o"])
        .arg(&plugged)
        .assert()
        .success()
        .stderr(contains("grows by 1.5 MiB"));
    kv().arg("plug")
        .arg(COUNTER)
        .args(["--quiet", "--seed", &seed, "-o"])
        .arg(&plugged)
        .assert()
        .success()
        .stderr("");
}

// --- conformance ---

/// `conformance --draft D` writes the suite's command for each draft, exactly as shipped, which
/// imports that draft's interfaces; without `--draft` it writes draft2's.
#[test]
fn conformance_writes_the_suite_of_each_draft() {
    use keyvalue_virt_artifacts::conformance::{DRAFT, DRAFT2, DRAFT2_SPIN};
    let dir = scratch();
    let out = dir.path().join("conformance.wasm");
    for (args, shipped, version) in [
        (&["--draft", "draft"][..], DRAFT, "0.2.0-draft"),
        (&["--draft", "draft2"], DRAFT2, "0.2.0-draft2"),
        (&["--draft", "draft2-spin"], DRAFT2_SPIN, "0.2.0-draft2"),
        (&[], DRAFT2, "0.2.0-draft2"),
    ] {
        kv().arg("conformance")
            .args(args)
            .arg("-o")
            .arg(&out)
            .assert()
            .success()
            .stderr(contains(format!("importing wasi:keyvalue@{version}")));
        let written = read(&out);
        assert!(
            written == shipped,
            "`conformance {args:?}` wrote other bytes"
        );
        let mut imports = keyvalue_imports(&written).unwrap();
        imports.sort();
        assert_eq!(
            imports,
            ["atomics", "batch", "store"].map(|i| format!("wasi:keyvalue/{i}@{version}"))
        );
    }
}

/// The draft2 shapes differ where they should: `plug` picks the `draft2-spin` build for the
/// suite written with `--draft draft2-spin`, and the tagged build for `--draft draft2`.
#[test]
fn conformance_of_each_draft2_shape_plugs_with_its_build() {
    let dir = scratch();
    let suite = dir.path().join("conformance.wasm");
    let out = dir.path().join("plugged.wasm");
    for shape in ["draft2", "draft2-spin"] {
        kv().args(["conformance", "--draft", shape, "-o"])
            .arg(&suite)
            .assert()
            .success();
        kv().arg("plug")
            .arg(&suite)
            .arg("-o")
            .arg(&out)
            .assert()
            .success()
            .stderr(contains(format!("plugging with the `{shape}` build")));
        assert!(keyvalue_imports(&read(&out)).unwrap().is_empty());
    }
}

#[test]
fn conformance_refuses_an_unknown_draft() {
    let dir = scratch();
    kv().args(["conformance", "--draft", "draft3", "-o"])
        .arg(dir.path().join("c.wasm"))
        .assert()
        .failure()
        .stderr(contains(
            "DRAFT must be `draft`, `draft2`, `draft2-spin`, not `draft3`",
        ));
    kv().args(["conformance", "--draft", "draft"])
        .assert()
        .failure()
        .stderr(contains("--output <OUT.wasm>"));
}

/// `conformance --help` says how to run the suite on a host and plugged, and its own options.
#[test]
fn conformance_help_says_how_to_run_it() {
    let output = kv().args(["conformance", "--help"]).assert().success();
    let help = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    for expected in [
        "Usage: keyvalue-virt conformance [OPTIONS] --output <OUT.wasm>",
        "--draft <DRAFT>",
        "wasmtime run -S keyvalue conformance.wasm --bucket '' --no-persistence",
        "keyvalue-virt plug conformance.wasm -o plugged.wasm",
        "wac plug conformance.wasm --plug",
        "--only NAME",
        "--list",
    ] {
        assert!(
            help.contains(expected),
            "`conformance --help` lacks {expected}:\n{help}"
        );
    }
    kv().arg("--help")
        .assert()
        .success()
        .stdout(contains("conformance "));
}

#[test]
fn sentinel_options_are_checked_together() {
    let sentinel = "redis://:SECRET-hunter2@127.0.0.1:26379";
    refused(
        &["--backend", "redis", "--sentinel", sentinel],
        &["--sentinel needs --sentinel-service NAME"],
    );
    refused(
        &["--backend", "redis", "--sentinel-service", "mymaster"],
        &["--sentinel-service `mymaster` needs the Sentinels to ask"],
    );
    for (option, value) in [
        ("--url", "redis://127.0.0.1:6379"),
        ("--url-env", "REDIS_URL"),
        ("--topology", "standalone"),
    ] {
        refused(
            &[
                "--backend",
                "redis",
                "--sentinel",
                sentinel,
                "--sentinel-service",
                "mymaster",
                option,
                value,
            ],
            &[&format!("--sentinel and {option} cannot be used together")],
        );
    }
    refused(
        &["--sentinel", sentinel, "--sentinel-service", "mymaster"],
        &["only used by the redis backend; add `--backend redis`"],
    );
    let dir = scratch();
    let out = dir.path().join("kv.wasm");
    let output = kv()
        .args(["build", "--backend", "redis", "--sentinel-service", "m"])
        .args(["--sentinel", "redis://:SECRET-hunter2@127.0.0.1", "-o"])
        .arg(&out)
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&output.get_output().stderr).into_owned();
    assert!(stderr.contains("invalid --sentinel: "), "{stderr}");
    assert!(!stderr.contains("SECRET"), "{stderr}");
}

#[test]
fn config_shows_the_sentinels_and_their_service() {
    let dir = scratch();
    let out = dir.path().join("kv.wasm");
    kv().args([
        "build",
        "--backend",
        "redis",
        "--sentinel-service",
        "mymaster",
    ])
    .args(["--sentinel", "redis://:SECRET-hunter2@10.0.0.1:26379"])
    .args(["--sentinel", "redis://10.0.0.2:26379", "-o"])
    .arg(&out)
    .assert()
    .success();
    let output = kv().arg("config").arg(&out).assert().success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    assert!(
        stdout.contains("sentinel        redis://:***@10.0.0.1:26379\n")
            && stdout.contains("redis://10.0.0.2:26379\n")
            && stdout.contains("service         mymaster\n")
            && !stdout.contains("SECRET"),
        "{stdout}"
    );
    let json = config_json(&out);
    assert_eq!(
        json["sentinel"],
        json!(["redis://:***@10.0.0.1:26379", "redis://10.0.0.2:26379"])
    );
    assert_eq!(json["sentinel-service"], "mymaster");
}

/// `plug` with `rediss://`: `--tls-insecure-skip-verify` is warned about (even with `--quiet`)
/// and shown by `config`; `--tls-ca` is baked and shown; TLS options with `redis://` URLs, a CA
/// file that holds no certificate, and `--control` with TLS are refused.
#[test]
fn plug_warns_about_skipped_verification_and_refuses_tls_options_that_do_not_fit() {
    let dir = scratch();
    let out = dir.path().join("app.wasm");
    let ca = write(
        &dir,
        "ca.crt",
        "-----BEGIN CERTIFICATE-----\nMIIBfTCCASOgAwIBAgIUB\n-----END CERTIFICATE-----\n",
    );
    let redis = [
        "--backend",
        "redis",
        "--url",
        "rediss://:SECRET-hunter2@127.0.0.1:6380",
    ];
    let plug = || {
        let mut command = kv();
        command
            .arg("plug")
            .arg(COUNTER)
            .args(redis)
            .arg("-o")
            .arg(&out);
        command
    };
    plug()
        .args(["--tls-insecure-skip-verify", "--quiet"])
        .assert()
        .success()
        .stderr(contains("warning: --tls-insecure-skip-verify").and(contains("ANY certificate")));
    let shown = kv().arg("config").arg(&out).assert().success();
    let stdout = String::from_utf8_lossy(&shown.get_output().stdout).into_owned();
    assert!(
        stdout.contains("tls             INSECURE") && !stdout.contains("SECRET"),
        "{stdout}"
    );
    assert_eq!(config_json(&out)["tls-insecure-skip-verify"], true);

    plug()
        .arg("--tls-ca")
        .arg(&ca)
        .assert()
        .failure()
        .stderr(contains("invalid --tls-ca").and(contains("not a valid CA").or(contains("PEM"))));
    kv().arg("plug")
        .arg(COUNTER)
        .args([
            "--backend",
            "redis",
            "--url",
            "redis://127.0.0.1:6379",
            "--tls-ca",
        ])
        .arg(&ca)
        .arg("-o")
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains("--tls-ca is for rediss:// (TLS) URLs"));
    plug()
        .arg("--control")
        .assert()
        .failure()
        .stderr(contains("--control builds have no TLS"));
}
