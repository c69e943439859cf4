//! Runs the real `keyvalue-virt` binary on store directories of the fs backend: `import`, then
//! `inspect` and `export`, round trips, empty and missing directories, and bad dumps; and on a
//! real `redis-server` under a `--key-prefix`.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{kv, scratch};
use keyvalue_virt_redis_server::{RedisServer, TestCa};
use predicates::prelude::*;
use predicates::str::contains;
use serde_json::{Map, Value, json};

/// Runs `import DIR` with `dump` on stdin.
fn import(dir: &Path, dump: &Value) -> assert_cmd::assert::Assert {
    kv().arg("import")
        .arg(dir)
        .write_stdin(serde_json::to_vec(dump).unwrap())
        .assert()
}

/// Runs `export DIR` (or `inspect --json DIR`) and parses its output.
fn export(dir: &Path, command: &[&str]) -> Value {
    let output = kv().args(command).arg(dir).assert().success();
    serde_json::from_slice(&output.get_output().stdout).expect("the dump is JSON")
}

/// Every file under `dir`, sorted, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                found.push((path, bytes));
            }
        }
    }
    found.sort();
    found
}

fn b64(bytes: &[u8]) -> Value {
    json!({ "base64": STANDARD.encode(bytes) })
}

/// A dump with every kind of bucket, key and value.
fn varied_dump() -> Value {
    let all_bytes: Vec<u8> = (0..=255).collect();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    json!({
        "": { "": "", "counter": "41" },
        "users": {
            "alice": "{\"age\": 30}",
            "avatar": b64(&[0x89, b'P', b'N', b'G', 0, 0xff]),
            "héllo wörld ✓": "ünïcödé",
            "/": "slash",
            "..": "dots",
            "Key": "upper",
            "key": "lower",
            "nul\u{0}key": "nul\u{0}value",
            "all bytes": b64(&all_bytes),
            "big": b64(&big),
            "lone continuation": b64(&[0x80]),
        },
        "empty bucket": {},
    })
}

/// A format 2 store (made by hand, as format 2 lays it out) is exported as it always was, and
/// its dump imported into a new directory makes a format 4 store; importing into the old one
/// is refused with the commands that move it.
#[test]
fn a_format_2_store_moves_to_format_4_by_export_and_import() {
    let dir = scratch();
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    keyvalue_virt_core::backend::fs::legacy::write_format_2_store(
        &old,
        &[("b", &[("k", b"v"), ("n", b"5")]), ("c", &[("x", b"y")])],
    )
    .unwrap();
    let dump = json!({"b": {"k": "v", "n": "5"}, "c": {"x": "y"}});
    assert_eq!(export(&old, &["export"]), dump);

    let new = dir.path().join("new");
    import(&new, &dump).success();
    let format = std::fs::read(new.join("FORMAT")).unwrap();
    assert!(format.starts_with(b"keyvalue-virt store, format 4\nkey "));
    assert_eq!(export(&new, &["export"]), dump);

    import(&old, &dump)
        .failure()
        .stderr(contains("holds a store of format 2"))
        .stderr(contains("keyvalue-virt export"))
        .stderr(contains("keyvalue-virt import NEW_DIR < dump.json"));
}

#[test]
fn import_then_export_and_inspect_round_trip_every_key_and_value() {
    let dir = scratch();
    let store = dir.path().join("store");
    let dump = varied_dump();
    import(&store, &dump)
        .success()
        .stderr(contains("imported 13 keys into 3 buckets of `"));
    assert!(store.join("FORMAT").is_file());

    assert_eq!(export(&store, &["export"]), dump);
    assert_eq!(export(&store, &["inspect", "--json"]), dump);

    // Importing the export into another store gives the same store.
    let copy = dir.path().join("copy");
    let exported = kv().arg("export").arg(&store).assert().success();
    let exported = exported.get_output().stdout.clone();
    kv().arg("import")
        .arg(&copy)
        .write_stdin(exported)
        .assert()
        .success();
    assert_eq!(export(&copy, &["export"]), dump);

    // --file reads the dump from a file, like --seed-file.
    let file = dir.path().join("dump.json");
    std::fs::write(&file, serde_json::to_vec(&dump).unwrap()).unwrap();
    let third = dir.path().join("third");
    kv().arg("import")
        .arg(&third)
        .arg("--file")
        .arg(&file)
        .assert()
        .success();
    assert_eq!(export(&third, &["export"]), dump);
}

#[test]
fn a_bucket_of_more_than_one_list_keys_page_is_exported_whole() {
    let dir = scratch();
    let mut many = Map::new();
    for i in 0..1001 {
        many.insert(format!("key-{i}"), json!(i.to_string()));
    }
    let dump = json!({ "many": many });
    import(dir.path(), &dump).success();
    assert_eq!(export(dir.path(), &["export"]), dump);
}

#[test]
fn values_that_are_not_utf8_are_exported_as_base64_and_text_as_strings() {
    let dir = scratch();
    // Text given as base64 comes back as a string: the bytes are what counts.
    import(
        dir.path(),
        &json!({"b": {"text": b64(b"plain"), "bin": b64(&[0xc3, 0x28])}}),
    )
    .success();
    assert_eq!(
        export(dir.path(), &["export"]),
        json!({"b": {"text": "plain", "bin": {"base64": "wyg="}}})
    );
}

#[test]
fn inspect_lists_buckets_then_keys_with_sizes() {
    let dir = scratch();
    import(
        dir.path(),
        &json!({"users": {"alice": "{\"age\": 30}", "avatar": b64(&[0, 255])}, "": {"n": "7"}, "e": {}}),
    )
    .success();
    kv().arg("inspect")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(
            "bucket \"\": 1 key, 1 byte\n  \"n\"  1 byte\n\
         bucket \"e\": 0 keys, 0 bytes\n\
         bucket \"users\": 2 keys, 13 bytes\n  \"alice\"  11 bytes\n  \"avatar\"  2 bytes\n",
        );
}

#[test]
fn an_empty_directory_is_an_empty_store_and_is_left_untouched() {
    let dir = scratch();
    assert_eq!(export(dir.path(), &["export"]), json!({}));
    kv().arg("export")
        .arg(dir.path())
        .assert()
        .success()
        .stdout("{}\n")
        .stderr(contains("exported 0 buckets and 0 keys"));
    kv().arg("inspect")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(format!("no buckets in `{}`\n", dir.path().display()));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // An empty dump makes an empty store.
    import(dir.path(), &json!({})).success();
    assert!(dir.path().join("FORMAT").is_file());
    assert_eq!(export(dir.path(), &["export"]), json!({}));
}

#[test]
fn a_missing_directory_is_named_and_not_created() {
    let dir = scratch();
    let missing = dir.path().join("missing");
    for command in ["inspect", "export"] {
        kv().arg(command)
            .arg(&missing)
            .assert()
            .failure()
            .stdout("")
            .stderr(
                contains(format!(
                    "error: there is no directory `{}` (no such file or directory); give the \
                     host directory that holds the store",
                    missing.display()
                ))
                .and(contains("grant").not())
                .and(contains("component").not()),
            );
    }
    assert!(!missing.exists());

    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    kv().arg("inspect")
        .arg(&file)
        .assert()
        .failure()
        .stderr(contains(format!(
            "`{}` is a file, not a directory",
            file.display()
        )));
}

/// A component passed where the store's directory goes is named as such, with `--from`.
#[test]
fn a_component_in_place_of_the_directory_points_at_from() {
    let dir = scratch();
    let app = dir.path().join("app.wasm");
    kv().arg("build").arg("-o").arg(&app).assert().success();
    for command in ["inspect", "export"] {
        kv().arg(command)
            .arg(&app)
            .assert()
            .failure()
            .stderr(contains(format!(
                "`{0}` is a file (a WebAssembly component), not a store directory; to use the \
                 store of the app it is, pass `--from {0}`",
                app.display()
            )));
    }
}

#[test]
fn a_directory_that_is_not_a_store_is_refused() {
    let dir = scratch();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    kv().arg("export")
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(contains("is not a keyvalue-virt store").and(contains("no `FORMAT` file")));
    import(dir.path(), &json!({"b": {"k": "v"}}))
        .failure()
        .stderr(contains(
            "import into an empty directory or an existing store",
        ));
    assert_eq!(files(dir.path()).len(), 1);

    std::fs::write(dir.path().join("FORMAT"), "keyvalue-virt store, format 9\n").unwrap();
    kv().arg("inspect")
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(
            contains(format!(
                "failed to read the store in `{}`",
                dir.path().display()
            ))
            .and(contains("format 9")),
        );
}

#[test]
fn a_bad_dump_is_refused_whole_and_writes_nothing() {
    let dir = scratch();
    let store = dir.path().join("store");
    import(&store, &json!({"a": {"k": "old"}})).success();
    let before = files(&store);

    // The bad value is in the last bucket, after keys that would have been written first.
    let bad = json!({"a": {"k": "new", "l": "x"}, "b": {"k": "v"}, "z": {"bad": 5}});
    import(&store, &bad).failure().stderr(contains(
        r#"error: invalid seed file on stdin: bucket "z", key "bad": a value must be a string (UTF-8 text) or {"base64": "..."} (any bytes), found a number"#,
    ));
    assert_eq!(files(&store), before);

    for (text, problem) in [
        (
            "{\"a\": {\"k\": \"v\"}",
            "not valid JSON (EOF while parsing",
        ),
        ("[1]", "the file holds an array, not an object of buckets"),
        (
            "{\"a\": {\"k\": {\"base64\": \"no!\"}}}",
            r#"bucket "a", key "k": invalid base64 in "base64""#,
        ),
        ("{\"a\": [\"k\"]}", r#"bucket "a" holds an array"#),
    ] {
        kv().arg("import")
            .arg(&store)
            .write_stdin(text)
            .assert()
            .failure()
            .stderr(contains(problem));
        assert_eq!(files(&store), before, "{text}");
    }

    // Same messages as --seed-file, naming the file.
    let file = dir.path().join("bad.json");
    std::fs::write(&file, "{\"a\": {\"k\": null}}").unwrap();
    kv().arg("import")
        .arg(&store)
        .arg("--file")
        .arg(&file)
        .assert()
        .failure()
        .stderr(contains(format!(
            "error: invalid seed file `{}`: bucket \"a\", key \"k\": a value must be",
            file.display()
        )));
    kv().arg("import")
        .arg(&store)
        .arg("--file")
        .arg(dir.path().join("nope.json"))
        .assert()
        .failure()
        .stderr(contains("failed to read seed file `"));
    kv().arg("import")
        .arg(&store)
        .write_stdin("")
        .assert()
        .failure()
        .stderr(contains("nothing on stdin"));
    assert_eq!(files(&store), before);

    // A bad dump does not create a missing directory either.
    let missing = dir.path().join("missing");
    kv().arg("import")
        .arg(&missing)
        .write_stdin("nope")
        .assert()
        .failure();
    assert!(!missing.exists());
}

#[test]
fn import_replaces_the_keys_it_holds_and_keeps_the_others() {
    let dir = scratch();
    import(
        dir.path(),
        &json!({"a": {"k": "1", "l": "2"}, "b": {"x": "y"}}),
    )
    .success();
    import(dir.path(), &json!({"a": {"k": b64(&[0xff])}, "c": {}})).success();
    assert_eq!(
        export(dir.path(), &["export"]),
        json!({"a": {"k": {"base64": "/w=="}, "l": "2"}, "b": {"x": "y"}, "c": {}})
    );
}

#[test]
fn a_damaged_record_is_an_error_naming_the_file() {
    let dir = scratch();
    import(dir.path(), &json!({"b": {"k": "some value"}})).success();
    // The key's slot record is the only `r`, in its slot's directory (named by a 16-digit hash).
    let (path, mut bytes) = files(dir.path())
        .into_iter()
        .find(|(path, _)| path.file_name().unwrap() == "r")
        .expect("the key's slot");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    kv().arg("export")
        .arg(dir.path())
        .assert()
        .failure()
        .stdout("")
        .stderr(
            contains(path.display().to_string())
                .and(contains("checksum mismatch"))
                .and(contains("keyvalue-virt repair")),
        );
}

#[test]
fn a_redis_dump_round_trips_under_a_key_prefix_and_keys_outside_it_are_not_listed() {
    let server = RedisServer::start();
    let url = server.url();
    let redis = Path::new(&url);
    // Other data on the server: no prefix, another prefix, and a key that `app[1]:*` would
    // match as an unescaped glob.
    for key in ["users:alice", "other:users:bob", "app1:users:carol"] {
        server.cli(&["SET", key, "outside"]);
    }

    let dump = varied_dump();
    kv().args(["import", &url, "--key-prefix", "app[1]:"])
        .write_stdin(serde_json::to_vec(&dump).unwrap())
        .assert()
        .success()
        .stderr(contains(
            "imported 13 keys into 3 buckets of `redis://127.0.0.1:",
        ));
    // Written where the component baked with `--key-prefix 'app[1]:'` reads them.
    assert_eq!(server.cli(&["GET", "app[1]:users:alice"]), "{\"age\": 30}");
    assert_eq!(server.cli(&["GET", "app[1]::counter"]), "41");
    assert_eq!(server.cli(&["GET", "users:alice"]), "outside");

    // Redis has no empty buckets: a bucket is the keys under its name.
    let mut expected = dump.clone();
    expected.as_object_mut().unwrap().remove("empty bucket");
    let prefixed = ["--key-prefix", "app[1]:"];
    assert_eq!(
        export(redis, &[&["export"][..], &prefixed].concat()),
        expected
    );
    assert_eq!(
        export(redis, &[&["inspect", "--json"][..], &prefixed].concat()),
        expected
    );
    let listed = kv()
        .args(["inspect", &url, "--key-prefix", "app[1]:"])
        .assert()
        .success();
    let listed = String::from_utf8_lossy(&listed.get_output().stdout).into_owned();
    assert!(listed.contains("bucket \"users\": 11 keys"), "{listed}");
    assert!(
        !listed.contains("carol") && !listed.contains("bob"),
        "{listed}"
    );

    // Exported under one prefix and imported under another, the dump round-trips.
    let exported = kv()
        .args(["export", &url, "--key-prefix", "app[1]:"])
        .assert()
        .success();
    let exported = exported.get_output().stdout.clone();
    kv().args(["import", &url, "--key-prefix", "copy:"])
        .write_stdin(exported)
        .assert()
        .success();
    assert_eq!(
        export(redis, &["export", "--key-prefix", "copy:"]),
        expected
    );

    // Without a prefix every key on the server is listed, outside ones too.
    let everything = export(redis, &["export"]);
    assert_eq!(everything["users"]["alice"], json!("outside"));
    assert_eq!(everything["app1"]["users:carol"], json!("outside"));
    assert_eq!(everything["copy"]["users:alice"], json!("{\"age\": 30}"));
    assert_eq!(server.cli(&["DBSIZE"]), (3 + 2 * 13).to_string());
}

#[test]
fn a_key_prefix_with_a_directory_is_refused() {
    let dir = scratch();
    for command in ["inspect", "export"] {
        kv().arg(command)
            .arg(dir.path())
            .args(["--key-prefix", "app:"])
            .assert()
            .failure()
            .stderr(contains("--key-prefix is only used with a redis:// URL"));
    }
    kv().arg("import")
        .arg(dir.path())
        .args(["--key-prefix", "app:"])
        .write_stdin("{}")
        .assert()
        .failure()
        .stderr(contains("--key-prefix is only used with a redis:// URL"));
    assert!(!dir.path().join("FORMAT").exists());
}

/// The top-level help says what the store commands take: a directory, a redis:// URL or a
/// plugged app, as their own help does.
#[test]
fn top_level_help_matches_the_store_commands() {
    let output = kv().arg("--help").assert().success();
    let help = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for line in [
        "inspect Lists the buckets and keys of a store (fs directory or redis:// URL)",
        "export Prints a whole store (fs directory or redis:// URL)",
        "import Writes the keys of a JSON dump (the --seed-file shape) into a store (fs \
         directory or redis:// URL)",
        "the server of the redis backend (a redis:// URL)",
        "keyvalue-virt inspect --from app-kv.wasm",
    ] {
        assert!(flat.contains(line), "the help lacks {line:?}:\n{help}");
    }
    assert!(!flat.contains("fs-backend store directory"), "{help}");
    for command in ["inspect", "export", "import"] {
        kv().args([command, "--help"])
            .assert()
            .success()
            .stdout(contains("redis://").and(contains("--from <APP.wasm>")));
    }
}

/// `rediss://`: the store tools speak TLS with the core's own code, check the certificate
/// against `--tls-ca`, and refuse a wrong CA naming the URL, never its password, and never
/// taking the URL for a directory.
#[test]
fn a_tls_store_round_trips_and_a_wrong_ca_is_refused_without_the_password() {
    let ca = TestCa::new();
    let server = RedisServer::tls(&ca);
    let url = server.tls_url();
    let ca_path = ca.ca_path();
    let ca_file = ca_path.to_str().unwrap();
    let dump = varied_dump();
    kv().args(["import", &url, "--tls-ca", ca_file])
        .write_stdin(serde_json::to_vec(&dump).unwrap())
        .assert()
        .success();
    let mut expected = dump.clone();
    expected.as_object_mut().unwrap().remove("empty bucket");
    let exported = kv()
        .args(["export", &url, "--tls-ca", ca_file])
        .assert()
        .success();
    let exported: Value = serde_json::from_slice(&exported.get_output().stdout).unwrap();
    assert_eq!(exported, expected);

    let dir = scratch();
    let other = TestCa::new();
    let wrong = format!("rediss://user:hunter2@127.0.0.1:{}", server.port);
    for command in [&["import"][..], &["export"], &["inspect"]] {
        kv().current_dir(dir.path())
            .args(command)
            .args([&wrong, "--tls-ca", other.ca_path().to_str().unwrap()])
            .write_stdin(r#"{"b": {"k": "v"}}"#)
            .assert()
            .failure()
            .stderr(contains(format!("rediss://127.0.0.1:{}", server.port)))
            .stderr(contains("not signed by the CA given with --tls-ca"))
            .stderr(contains("hunter2").not());
    }
    kv().current_dir(dir.path())
        .args(["export", "redis://127.0.0.1:1/0?password=hunter2"])
        .assert()
        .failure()
        .stderr(contains("query"))
        .stderr(contains("hunter2").not());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn help_shows_the_store_commands() {
    kv().arg("--help").assert().success().stdout(
        contains("inspect")
            .and(contains("export"))
            .and(contains("import")),
    );
    kv().args(["import", "--help"])
        .assert()
        .success()
        .stdout(contains("keyvalue-virt import ./copy < dump.json"));
}

/// A damaged key file: `inspect` lists the other keys and names the file, `repair` empties it
/// (its key is lost) and the store works whole again.
#[test]
fn a_damaged_key_file_is_reported_by_inspect_and_mended_by_repair() {
    let dir = scratch();
    let store = dir.path().join("store");
    import(&store, &json!({"b": {"k1": "1", "k2": "2", "k3": "3"}})).success();
    let (slot, _) = files(&store)
        .into_iter()
        .find(|(path, _)| path.file_name().unwrap() == "r")
        .unwrap();
    std::fs::write(&slot, "damaged").unwrap();
    kv().arg("inspect").arg(&store).assert().success().stdout(
        contains("bucket \"b\": 2 keys")
            .and(contains("1 damaged file skipped"))
            .and(contains(slot.display().to_string())),
    );
    kv().arg("repair")
        .arg(&store)
        .assert()
        .success()
        .stdout(contains("repaired 1 damaged slot").and(contains(slot.display().to_string())));
    kv().arg("inspect")
        .arg(&store)
        .assert()
        .success()
        .stdout(contains("bucket \"b\": 2 keys").and(contains("damaged").not()));
    import(&store, &json!({"b": {"k1": "1", "k2": "2", "k3": "3"}})).success();
    assert_eq!(
        export(&store, &["export"]),
        json!({"b": {"k1": "1", "k2": "2", "k3": "3"}})
    );
}

/// `--from APP.wasm` with the fs backend: the host directory is still given, the rest comes
/// from the app; without the directory, the error names the app's --dir and the command.
#[test]
fn from_an_fs_app_reads_and_writes_the_directory_given() {
    let dir = scratch();
    let app = dir.path().join("app.wasm");
    kv().args(["build", "--backend", "fs", "--dir", "/kv", "-o"])
        .arg(&app)
        .assert()
        .success();
    let data = dir.path().join("data");
    let dump = json!({"users": {"alice": "30"}});
    kv().arg("import")
        .arg("--from")
        .arg(&app)
        .arg(&data)
        .write_stdin(serde_json::to_vec(&dump).unwrap())
        .assert()
        .success();
    let from = ["--from", app.to_str().unwrap()];
    assert_eq!(export(&data, &[&["export"][..], &from].concat()), dump);
    assert_eq!(
        export(&data, &[&["inspect", "--json"][..], &from].concat()),
        dump
    );
    kv().arg("inspect")
        .arg("--from")
        .arg(&app)
        .assert()
        .failure()
        .stderr(contains(format!(
            "`{0}` uses the fs backend with --dir `/kv`, the path the app sees; give the host \
             directory behind it too: `keyvalue-virt inspect --from {0} ./data`",
            app.display()
        )));
}

/// `--from` an app on the memory backend, or a file that holds no keyvalue-virt, says why
/// there is nothing to read.
#[test]
fn from_an_app_without_a_store_is_refused() {
    let dir = scratch();
    let app = dir.path().join("app.wasm");
    kv().arg("build").arg("-o").arg(&app).assert().success();
    kv().arg("export")
        .arg("--from")
        .arg(&app)
        .assert()
        .failure()
        .stdout("")
        .stderr(contains(format!(
            "`{}` uses the memory backend: its data lives inside each running instance",
            app.display()
        )));
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "hi").unwrap();
    kv().arg("inspect")
        .arg("--from")
        .arg(&text)
        .assert()
        .failure()
        .stderr(contains("is not a WebAssembly file"));
}

/// `--from` an app plugged with `--backend redis --key-prefix short:` reads the URL and the
/// prefix from the app; read without the prefix, the keys get a note that they look prefixed.
#[test]
fn from_a_redis_app_reads_its_url_and_prefix() {
    let server = RedisServer::start();
    let url = server.url();
    let dir = scratch();
    let app = dir.path().join("kv.wasm");
    kv().args(["build", "--backend", "redis", "--url", &url])
        .args(["--key-prefix", "short:", "-o"])
        .arg(&app)
        .assert()
        .success();
    let dump = json!({"links": {"1": "https://example.com", "2": "https://example.org"}});
    kv().arg("import")
        .arg("--from")
        .arg(&app)
        .write_stdin(serde_json::to_vec(&dump).unwrap())
        .assert()
        .success();
    assert_eq!(server.cli(&["GET", "short:links:1"]), "https://example.com");
    let from = ["--from", app.to_str().unwrap()];
    let exported = kv().arg("export").args(from).assert().success();
    let exported: Value = serde_json::from_slice(&exported.get_output().stdout).unwrap();
    assert_eq!(exported, dump);
    kv().arg("export")
        .args(from)
        .assert()
        .success()
        .stderr(contains("note").not());

    kv().args(["export", &url])
        .assert()
        .success()
        .stderr(contains(
            "note: every key of bucket \"short\" holds a `:` (like \"links:1\"); if the app was \
         plugged with `--key-prefix short:`, these are its buckets: pass `--key-prefix short:`, \
         or `--from APP.wasm`",
        ));
    kv().args(["inspect", &url])
        .assert()
        .success()
        .stderr(contains("--key-prefix short:"));

    kv().arg("inspect")
        .args(from)
        .arg(&url)
        .assert()
        .failure()
        .stderr(contains(
            "uses the redis backend, whose URL --from reads from the app; drop",
        ));
    kv().arg("inspect")
        .args(from)
        .args(["--key-prefix", "x:"])
        .assert()
        .failure()
        .stderr(contains("cannot be used with"));
}
