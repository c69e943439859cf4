//! The control interface, driven through `keyvalue-virt-testing` around the example app
//! `counter` (`tests/guests/src/bin/counter.rs`) plugged with the memory backend, and with the
//! fs and redis backends.

mod common;

use common::{grant, on_fs, plugged, seeded};
use keyvalue_virt_artifacts::guests::COUNTER;
use keyvalue_virt_compose::config::{self, BackendKind, ErrorCase, RedisConfig};
use keyvalue_virt_redis_server::RedisServer;
use keyvalue_virt_testing::{Config, Error, Fault, Op, Outcome, TestApp};

fn counter(config: &Config) -> TestApp {
    TestApp::load(&plugged(COUNTER, config)).expect("the example app loads")
}

/// The example: seed through control, run, assert on output, data and calls; inject an
/// `increment` fault, run again, and the app fails with the data unchanged.
#[test]
fn seed_run_assert_then_fail_an_increment() {
    let mut app = counter(&Config::default());
    app.set("", "alice", b"41").unwrap();

    let run = app.run(&["alice"]).unwrap();
    assert!(run.success(), "{run}");
    assert!(run.stdout.contains("hello alice: visit 42\n"), "{run}");
    assert_eq!(app.get("", "alice").unwrap().as_deref(), Some(&b"42"[..]));
    app.assert_called(Op::Increment, "", "alice", 1).unwrap();
    app.assert_count(Op::Set, 0).unwrap();

    app.clear_log().unwrap();
    app.add_fault(Fault::new(
        Op::Increment,
        Error::Other("disk on fire".into()),
    ))
    .unwrap();
    let run = app.run(&["alice"]).unwrap();
    assert_eq!(run.status, 1, "{run}");
    assert!(run.stderr.contains("disk on fire"), "{run}");
    assert_eq!(app.get("", "alice").unwrap().as_deref(), Some(&b"42"[..]));
    let calls = app.calls().unwrap();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].op, Op::Open);
    assert_eq!(calls[1].op, Op::Increment);
    assert_eq!(calls[1].keys, ["alice"]);
    assert_eq!(
        calls[1].outcome,
        Outcome::Failed(Error::Other("disk on fire".into()))
    );

    // Added faults apply to one run.
    let run = app.run(&["alice"]).unwrap();
    assert!(run.stdout.contains("hello alice: visit 43\n"), "{run}");
    app.add_fault(Fault::new(Op::Increment, Error::AccessDenied))
        .unwrap();
    app.clear_faults().unwrap();
    let run = app.run(&["alice"]).unwrap();
    assert!(run.stdout.contains("hello alice: visit 44\n"), "{run}");
}

/// A failed expectation says what the app did instead, from the call log.
#[test]
fn a_failed_expectation_lists_the_calls() {
    let mut app = counter(&Config::default());
    let run = app.run(&["alice"]).unwrap();
    assert!(run.success(), "{run}");
    let error = app
        .assert_called(Op::Set, "", "alice", 1)
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "expected 1 `set` of `alice` in bucket `\"\"`, saw 0; calls: open `\"\"`, increment \
         `alice` -> 1, list-keys `\"\"` -> 1 key, get-many `alice` -> [1 byte]"
    );
    let error = app
        .assert_value("", "alice", Some(b"2"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "expected `alice` in bucket `\"\"` to hold \"2\", it holds \"1\"; calls: open `\"\"`, \
         increment `alice` -> 1, list-keys `\"\"` -> 1 key, get-many `alice` -> [1 byte]"
    );
    app.assert_value("", "alice", Some(b"1")).unwrap();
}

/// Faults limited to a key and to the nth call, the log's bound, and direct access that
/// neither the log nor the faults see.
#[test]
fn faults_on_one_key_and_the_nth_call_and_a_bounded_log() {
    let mut app = counter(&Config::default());
    let bob_second = || {
        Fault::new(Op::Increment, Error::AccessDenied)
            .key("bob")
            .nth(2)
    };
    app.add_fault(bob_second()).unwrap();
    let run = app.run(&["bob", "alice", "carol"]).unwrap();
    assert!(
        run.success(),
        "one `bob` passes, `alice` never fails: {run}"
    );
    app.add_fault(bob_second()).unwrap();
    let run = app.run(&["bob", "alice", "bob"]).unwrap();
    assert_eq!(run.status, 1, "the second `bob` fails: {run}");
    assert!(run.stdout.contains("hello alice: visit 2\n"), "{run}");
    assert!(run.stderr.contains("access denied"), "{run}");
    let run = app.run(&["bob"]).unwrap();
    assert!(
        run.stdout.contains("hello bob: visit 3\n"),
        "a fault lasts one run: {run}"
    );

    app.set("", "direct", b"x").unwrap();
    assert_eq!(app.keys("").unwrap(), ["alice", "bob", "carol", "direct"]);
    assert_eq!(app.buckets().unwrap(), [""]);
    app.delete("", "direct").unwrap();
    assert_eq!(app.get("", "direct").unwrap(), None);
    app.assert_count(Op::Set, 0).unwrap();

    app.clear_log().unwrap();
    app.set_log_limit(3).unwrap();
    app.run(&["dave"]).unwrap();
    let log = app.log().unwrap();
    assert_eq!(log.calls.len(), 3);
    assert_eq!(
        log.dropped, 1,
        "open, increment, list-keys, get-many: the first dropped"
    );
    assert_eq!(log.calls[0].op, Op::Increment);

    let refused = app
        .add_fault(Fault::new(Op::Get, Error::AccessDenied).nth(0))
        .unwrap_err();
    assert!(
        format!("{refused:#}").contains("`nth` 0 would never fire"),
        "{refused:#}"
    );
}

/// `reset` puts the store back to the baked seeds and clears the log and the added faults; the
/// baked policy refuses the app, never the control calls.
#[test]
fn reset_goes_back_to_the_seeds_and_control_bypasses_the_policy() {
    let config = seeded(
        "alice",
        b"41",
        Config {
            read_only: true,
            ..Config::default()
        },
    );
    let mut app = counter(&config);
    assert_eq!(app.get("", "alice").unwrap().as_deref(), Some(&b"41"[..]));
    let run = app.run(&["alice"]).unwrap();
    assert_eq!(
        run.status, 1,
        "read-only refuses the app's increment: {run}"
    );
    app.set("", "bob", b"7").unwrap();
    app.set("other", "k", b"v").unwrap();
    assert_eq!(app.buckets().unwrap(), ["", "other"]);
    app.add_fault(Fault::new(Op::Open, Error::NoSuchStore))
        .unwrap();

    app.reset().unwrap();
    assert_eq!(app.buckets().unwrap(), [""]);
    assert_eq!(app.keys("").unwrap(), ["alice"]);
    assert_eq!(app.calls().unwrap(), []);
    let run = app.run(&[]).unwrap();
    assert!(run.success(), "the open fault is gone: {run}");
    assert_eq!(run.stdout, "alice: 41\n");
}

/// A baked `--fail` limited to a key fails only the calls that name it.
#[test]
fn a_baked_fault_on_one_key() {
    let config = Config {
        faults: vec![config::Fault {
            key: Some("bob".into()),
            ..config::Fault::new(
                config::Op::Increment,
                None,
                ErrorCase::Other("bob is out".into()),
            )
        }],
        ..Config::default()
    };
    let mut app = counter(&config);
    let run = app.run(&["alice", "bob"]).unwrap();
    assert_eq!(run.status, 1, "{run}");
    assert!(run.stdout.contains("hello alice: visit 1\n"), "{run}");
    assert!(run.stderr.contains("bob is out"), "{run}");
    assert_eq!(app.keys("").unwrap(), ["alice"]);
}

/// The control interface reads and writes the fs backend's store directory, which outlives
/// each run's instance; `reset` empties it back to the seeds.
#[test]
fn control_reads_and_writes_the_fs_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = on_fs(seeded("alice", b"41", Config::default()));
    let mut app = TestApp::load_with(&plugged(COUNTER, &config), grant(dir.path())).unwrap();
    app.set("other", "k", b"v").unwrap();
    let run = app.run(&["alice"]).unwrap();
    assert!(run.stdout.contains("hello alice: visit 42\n"), "{run}");
    assert_eq!(app.get("", "alice").unwrap().as_deref(), Some(&b"42"[..]));
    assert_eq!(app.buckets().unwrap(), ["", "other"]);
    app.assert_called(Op::Increment, "", "alice", 1).unwrap();

    app.reset().unwrap();
    assert_eq!(app.buckets().unwrap(), [""]);
    assert_eq!(app.get("", "alice").unwrap().as_deref(), Some(&b"41"[..]));
    let run = app.run(&["alice"]).unwrap();
    assert!(run.stdout.contains("hello alice: visit 42\n"), "{run}");
}

/// The control interface reads and writes the Redis server the redis backend is baked to use.
#[test]
fn control_reads_and_writes_the_redis_store() {
    let server = RedisServer::start();
    let config = seeded(
        "alice",
        b"41",
        Config {
            backend: BackendKind::Redis,
            redis: RedisConfig {
                urls: vec![server.url()],
                ..RedisConfig::default()
            },
            ..Config::default()
        },
    );
    let mut app = TestApp::load_with(&plugged(COUNTER, &config), |wasi| {
        wasi.inherit_network().allow_tcp(true);
    })
    .unwrap();
    app.set("other", "k", b"v").unwrap();
    let run = app.run(&["alice"]).unwrap();
    assert!(run.stdout.contains("hello alice: visit 42\n"), "{run}");
    assert_eq!(app.get("", "alice").unwrap().as_deref(), Some(&b"42"[..]));
    assert_eq!(app.buckets().unwrap(), ["", "other"]);
    app.assert_called(Op::Increment, "", "alice", 1).unwrap();

    app.reset().unwrap();
    assert_eq!(app.buckets().unwrap(), [""]);
    assert_eq!(app.get("", "alice").unwrap().as_deref(), Some(&b"41"[..]));
}

/// An fs store plugged `--read-only` is never written, not even by the control interface:
/// `set` and `delete` fail saying so, `reset` keeps the data, and the directory stays as it
/// was, even though the runtime grants it for writing.
#[test]
fn control_never_writes_a_read_only_fs_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = on_fs(seeded(
        "alice",
        b"41",
        Config {
            read_only: true,
            ..Config::default()
        },
    ));
    let mut app = TestApp::load_with(&plugged(COUNTER, &config), grant(dir.path())).unwrap();
    assert_eq!(app.get("", "alice").unwrap().as_deref(), Some(&b"41"[..]));
    for refused in [app.set("", "bob", b"1"), app.delete("", "alice")] {
        let message = format!("{:#}", refused.unwrap_err());
        assert!(
            message.contains(
                "the fs store is read-only (--read-only): keyvalue-virt never writes to its \
                 directory, not even for the control interface"
            ),
            "{message}"
        );
    }
    let run = app.run(&["alice"]).unwrap();
    assert_eq!(
        run.status, 1,
        "read-only refuses the app's increment: {run}"
    );
    app.reset().unwrap();
    assert_eq!(app.calls().unwrap(), []);
    let run = app.run(&[]).unwrap();
    assert_eq!(run.stdout, "alice: 41\n", "{run}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the directory stays empty"
    );
}
