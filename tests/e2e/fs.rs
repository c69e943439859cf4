//! The fs backend (`--backend fs --dir /kv`) with the real component under wasmtime, on a
//! directory under the target's scratch directory: persistence, concurrent instances, crashes,
//! hostile names and damaged files.

use std::hash::BuildHasher;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use keyvalue_virt_core::config::{BackendKind, Config, Seed};
use keyvalue_virt_harness::{
    App, GUEST_DIR, Outcome, baked_virt, compile, engine, files, fs_config, grant, read,
    run_component_with, run_configured_with, store_dir,
};
use wasmtime::component::Component;
use wasmtime_wasi::FsPerms;

use crate::probe::{TRACE, assert_other, assert_results, parse, probe};

/// `app` (or `fs-app`, for `None`) plugged with the fs-configured virt, compiled once.
fn component(app: Option<App>) -> &'static Component {
    static FS_APP: OnceLock<Component> = OnceLock::new();
    static PROBE: OnceLock<Component> = OnceLock::new();
    let (slot, path) = match app {
        None => (&FS_APP, App::Fs.path()),
        Some(app) => (&PROBE, app.path()),
    };
    slot.get_or_init(|| {
        let app_bytes = read(path);
        let plugged = keyvalue_virt_compose::plug(&app_bytes, &baked_virt(&fs_config()))
            .unwrap_or_else(|e| panic!("failed to plug `{}`: {e}", path.display()));
        compile(&plugged)
    })
}

fn fs_app(dir: &Path, args: &[&str]) -> Outcome {
    run_component_with(component(None), "fs-app", args, grant(dir))
}

fn probe_dir(dir: &Path, args: &[&str]) -> Outcome {
    run_component_with(component(Some(App::Probe)), "probe", args, grant(dir))
}

#[test]
fn data_persists_across_runs() {
    let dir = store_dir("persist");
    let first = probe_dir(
        &dir,
        &[
            "set:b:k=hello",
            "inc:b:n:5",
            "set:other:k=x",
            "delete:other:k",
        ],
    )
    .assert_ok();
    assert_eq!(
        first.stdout,
        "set:b:k=hello -> ok\ninc:b:n:5 -> ok 5\nset:other:k=x -> ok\ndelete:other:k -> ok\n"
    );
    let second = probe_dir(&dir, &["get:b:k", "inc:b:n:1", "list:b", "exists:other:k"]).assert_ok();
    assert_eq!(
        second.stdout,
        "get:b:k -> ok \"hello\"\ninc:b:n:1 -> ok 6\nlist:b -> ok [\"k\", \"n\"]\n\
         exists:other:k -> ok false\n"
    );
    assert!(
        std::fs::read(dir.join("FORMAT"))
            .unwrap()
            .starts_with(b"keyvalue-virt store, format 4\nkey ")
    );
}

#[test]
fn eight_instances_lose_no_increment() {
    let dir = store_dir("increments");
    let start = Instant::now();
    fs_app(&dir, &["inc", "b", "solo", "500"]).assert_ok();
    eprintln!("1 x 500 increments: {:?}", start.elapsed());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| fs_app(&dir, &["inc", "b", "n", "500"]).assert_ok());
        }
    });
    let elapsed = start.elapsed();
    let out = probe_dir(&dir, &["get:b:n"]).assert_ok();
    assert_eq!(out.stdout, "get:b:n -> ok \"4000\"\n");
    eprintln!("8 x 500 increments on one key: {elapsed:?}");
}

#[test]
fn cas_retry_loops_lose_no_update() {
    let dir = store_dir("cas");
    let retries: u64 = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| fs_app(&dir, &["cas-inc", "b", "n", "100"]).assert_ok()))
            .collect();
        runs.into_iter()
            .map(|run| run.join().unwrap().stdout.trim().parse::<u64>().unwrap())
            .sum()
    });
    let out = probe_dir(&dir, &["get:b:n"]).assert_ok();
    assert_eq!(out.stdout, "get:b:n -> ok \"400\"\n");
    eprintln!("4 x 100 cas increments: {retries} retries");
}

#[test]
fn a_64_mib_value_round_trips() {
    let dir = store_dir("big");
    assert_eq!(
        fs_app(&dir, &["big", "b", "k", "64"]).assert_ok().stdout,
        "ok\n"
    );
    let file = files(&dir)
        .into_iter()
        .find(|f| std::fs::metadata(f).unwrap().len() > 64 << 20)
        .expect("the value's file");
    // A 48-byte header, a 24-byte entry, the key `k` and the value.
    assert_eq!(
        std::fs::metadata(file).unwrap().len(),
        (64 << 20) + 48 + 24 + 1
    );
}

/// The component reads a slot file with one read of 4 KiB when the file is smaller, and reads
/// on when it fills that read: files just under, at and just over 4 KiB (and 8 KiB, and more
/// than one chunk of a later read) are read back whole and unchanged.
#[test]
fn slot_files_around_the_first_read_size_are_read_whole() {
    let dir = store_dir("first-read");
    let slot_len = |dir: &Path| {
        files(dir)
            .into_iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .max()
            .expect("a slot file")
    };
    // What a slot of the one key `k0` holds beyond its value.
    probe_dir(&dir, &["fill:b:k:1:1000"]).assert_ok();
    let overhead = slot_len(&dir) - 1000;
    for file_len in [4095, 4096, 4097, 8192, 8193, (1 << 20) + 4097] {
        let size = (file_len - overhead) as usize;
        let fill = format!("fill:b:k:1:{size}");
        let out = probe_dir(&dir, &[&fill, "get:b:k0"]).assert_ok().stdout;
        assert_eq!(slot_len(&dir), file_len, "the slot file's length");
        let value: Vec<u8> = (0..size).map(|j| (j % 251) as u8).collect();
        let hash = value.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        assert_eq!(
            out,
            format!("{fill} -> ok\nget:b:k0 -> ok ({size} bytes, fnv1a64 {hash:016x})\n"),
            "a slot file of {file_len} bytes"
        );
    }
}

#[test]
fn hostile_names_write_nothing_outside_the_directory() {
    let root = store_dir("hostile");
    let parent = root.parent().unwrap();
    assert_eq!(fs_app(&root, &["hostile"]).assert_ok().stdout, "ok\n");
    let outside: Vec<_> = std::fs::read_dir(parent).unwrap().collect();
    assert_eq!(outside.len(), 1, "only the store directory is next to it");
    for file in files(&root) {
        let name = file
            .strip_prefix(&root)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            name == "FORMAT"
                || name
                    .trim_end_matches("/NAME")
                    .trim_end_matches("/r")
                    .bytes()
                    .all(|c| b"0123456789abcdef-/".contains(&c)),
            "unexpected file {name}"
        );
    }
}

#[test]
fn damaged_files_are_reported_by_name_and_others_keep_working() {
    let dir = store_dir("damaged");
    probe_dir(&dir, &["set:b:good=fine", "set:b:bad=doomed value"]).assert_ok();
    let bad = files(&dir)
        .into_iter()
        .find(|f| {
            let bytes = std::fs::read(f).unwrap();
            bytes.windows(12).any(|w| w == b"doomed value")
        })
        .unwrap();
    let guest = format!("/kv/{}", bad.strip_prefix(&dir).unwrap().display());
    let mut bytes = std::fs::read(&bad).unwrap();
    for damage in ["flip", "truncate", "foreign"] {
        match damage {
            "flip" => *bytes.last_mut().unwrap() ^= 0x20,
            "truncate" => bytes.truncate(bytes.len() - 4),
            _ => bytes = b"#!/bin/sh\necho not a record\n".to_vec(),
        }
        std::fs::write(&bad, &bytes).unwrap();
        let out =
            probe_dir(&dir, &["get:b:bad", "get:b:good", "set:b:new=1", "list:b"]).assert_ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert!(
            lines[0].starts_with("get:b:bad -> error other: the store file")
                && lines[0].contains(&guest),
            "{damage}: {}",
            lines[0]
        );
        assert_eq!(lines[1], "get:b:good -> ok \"fine\"", "{damage}");
        assert_eq!(lines[2], "set:b:new=1 -> ok", "{damage}");
    }
    // Deleting the damaged file by hand recovers.
    std::fs::remove_file(&bad).unwrap();
    let out = probe_dir(&dir, &["get:b:bad", "list:b"]).assert_ok();
    assert_eq!(
        out.stdout,
        "get:b:bad -> ok none\nlist:b -> ok [\"good\", \"new\"]\n"
    );
}

/// A store of format 2 (made by hand, as format 2 lays it out) is refused by the component
/// with the commands that move it to format 4.
#[test]
fn a_format_2_store_is_refused_with_the_commands_that_move_it() {
    let dir = store_dir("format-2");
    keyvalue_virt_core::backend::fs::legacy::write_format_2_store(&dir, &[("b", &[("k", b"v")])])
        .unwrap();
    let out = probe_dir(&dir, &["get:b:k"]).assert_ok();
    assert!(
        out.stdout.contains("holds a store of format 2")
            && out
                .stdout
                .contains("`keyvalue-virt export /kv > dump.json` and `keyvalue-virt import NEW_DIR < dump.json`"),
        "{}",
        out.stdout
    );
}

#[test]
fn missing_and_read_only_directories_fail_on_open() {
    let out =
        run_component_with(component(Some(App::Probe)), "probe", &["open:b"], |_| {}).assert_ok();
    assert!(
        out.stdout
            .contains("open:b -> error other: the store directory `/kv` does not exist")
            && out.stdout.contains("--dir"),
        "{}",
        out.stdout
    );

    let dir = store_dir("read-only");
    let out = run_component_with(component(Some(App::Probe)), "probe", &["open:b"], |b| {
        b.preopened_dir(&dir, GUEST_DIR, FsPerms::ReadOnly).unwrap();
    })
    .assert_ok();
    assert!(
        out.stdout.contains("is not writable") && out.stdout.contains("--read-only"),
        "{}",
        out.stdout
    );
}

/// Set in the processes that the crash and stall tests start: the serialized fs-app component
/// (plugged with the fs-configured virt) to run.
const CHILD_COMPONENT: &str = "KEYVALUE_VIRT_CHILD_COMPONENT";
/// Set with [`CHILD_COMPONENT`]: the host store directory.
const CHILD_DIR: &str = "KEYVALUE_VIRT_CHILD_DIR";
/// Set with [`CHILD_COMPONENT`]: fs-app's arguments, separated by spaces.
const CHILD_ARGS: &str = "KEYVALUE_VIRT_CHILD_ARGS";
/// What a child process prints once it is about to run the component.
const READY: &str = "child ready";

/// Not a test on its own: the process that the crash and stall tests start, which re-executes
/// the test binary with only this test selected and the variables above set. It runs fs-app
/// with the guest's stdout going straight to the process's, so that the parent reads every
/// acknowledged result as it happens.
#[test]
fn child_process() {
    let (Some(component), Some(dir), Some(args)) = (
        std::env::var_os(CHILD_COMPONENT),
        std::env::var_os(CHILD_DIR),
        std::env::var(CHILD_ARGS).ok(),
    ) else {
        return;
    };
    // SAFETY: the parent test serialized this file with the same engine configuration.
    let component = unsafe { Component::deserialize_file(engine(), component) }.unwrap();
    println!("{READY}");
    let args: Vec<&str> = args.split(' ').collect();
    let dir = Path::new(&dir);
    let out = run_component_with(&component, "fs-app", &args, |builder| {
        grant(dir)(builder);
        builder.inherit_stdout();
    });
    out.result
        .unwrap_or_else(|e| panic!("fs-app failed: {e}\n{}", out.stderr));
    std::process::exit(0);
}

/// Starts a [`child_process`] running fs-app with `args` on `dir`, its stdout piped, and
/// waits until it is about to run.
fn spawn_child(
    serialized: &Path,
    dir: &Path,
    args: &str,
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "fs::child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_COMPONENT, serialized)
        .env(CHILD_DIR, dir)
        .env(CHILD_ARGS, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.ends_with(&format!("{READY}\n")) {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the child process did not start"
        );
    }
    (child, stdout)
}

/// Serializes fs-app, plugged with the fs-configured virt, for child processes.
fn serialized_fs_app(dir: &Path) -> PathBuf {
    let serialized = dir.parent().unwrap().join("fs-app.cwasm");
    std::fs::write(&serialized, component(None).serialize().unwrap()).unwrap();
    serialized
}

/// Sends `signal` (`STOP`, `CONT`) to a process with the system's `kill`.
fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} failed");
}

/// Writer processes killed with SIGKILL at random moments while they increment `n` and write
/// values of up to 1 MiB: no acknowledged increment is lost, the count never goes back, every
/// value is whole, and what the killed writers left behind stops nothing and is swept by later
/// writers.
#[test]
fn writes_survive_sigkill() {
    const ROUNDS: u64 = 200;
    let dir = store_dir("crash");
    let serialized = serialized_fs_app(&dir);
    // The store and the bucket exist before the first kill, so that the only leftovers are
    // those of writes (a kill while the store is made can leave its `FORMAT` temporary file,
    // which only `keyvalue-virt repair` removes).
    probe_dir(&dir, &["open:b"]).assert_ok();
    let mut rounds_seen = std::collections::HashSet::new();
    let (mut count, mut acknowledged) = (0, 0);
    for round in 0..ROUNDS {
        let (mut child, stdout) = spawn_child(&serialized, &dir, &format!("writer b {round}"));
        // Read the acknowledged increments while the writer runs.
        let reader = std::thread::spawn(move || {
            let mut last = 0;
            for line in stdout.lines() {
                match line.ok().as_deref().and_then(|l| l.strip_prefix("inc ")) {
                    Some(n) => last = n.parse::<u64>().unwrap(),
                    None => break,
                }
            }
            last
        });
        // When to kill is random; what is checked does not depend on it.
        let delay = std::hash::RandomState::new().hash_one(round) % 120;
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        child.wait().unwrap();
        let last = reader.join().unwrap();

        let out = fs_app(&dir, &["check", "b"]).assert_ok();
        let line = out.stdout.trim().strip_prefix("ok").unwrap().trim();
        let (rounds, n) = line.rsplit_once("n=").unwrap();
        let n: u64 = n.parse().unwrap();
        assert!(
            n >= last,
            "round {round}: increment {last} was acknowledged, n is {n}"
        );
        assert!(n >= count, "round {round}: n went back from {count} to {n}");
        acknowledged = acknowledged.max(last);
        count = n;
        rounds_seen.extend(
            rounds
                .trim()
                .trim_end_matches(',')
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned),
        );
    }
    assert!(
        acknowledged > 0,
        "no writer was acknowledged before it was killed"
    );
    let leftovers = || {
        files(&dir)
            .iter()
            .filter(|f| f.to_str().unwrap().ends_with(".t") || f.to_str().unwrap().ends_with(".c"))
            .count()
    };
    let left = leftovers();
    // Later writers finish what killed ones claimed, and now and then sweep a slot; `repair`
    // sweeps every slot. The last writer's change in flight (its temporary file, and its
    // claim if it got that far) is live until its slot moves on: one write to every key moves
    // every slot on.
    let out = probe_dir(
        &dir,
        &[
            "set-many:b:k0=0,k1=1,k2=2,k3=3,k4=4,k5=5,k6=6,k7=7",
            "inc:b:n:1",
            "list:b",
        ],
    )
    .assert_ok();
    assert_eq!(
        out.stdout
            .lines()
            .filter(|line| line.contains(" -> ok"))
            .count(),
        3,
        "{}",
        out.stdout
    );
    let repaired = keyvalue_virt_core::backend::fs::Fs::new(&dir, true, true)
        .repair()
        .unwrap();
    assert!(repaired.slots.is_empty(), "{repaired:?}");
    eprintln!(
        "{ROUNDS} kills: values of {} rounds survived, count {count}; {left} leftovers, {} after \
         `repair` removed {}",
        rounds_seen.len(),
        leftovers(),
        repaired.leftovers
    );
    assert_eq!(leftovers(), 0, "leftovers stay after a sweep");
}

/// Two processes increment one key; one is stopped with SIGSTOP mid-run and continued only
/// after the other has finished all its increments (which must not wait for it): the count is
/// exactly the number of increments acknowledged, every time.
#[test]
fn a_stopped_process_blocks_no_one_and_loses_nothing() {
    const EACH: u64 = 200;
    for round in 0..3 {
        let dir = store_dir(&format!("stall-{round}"));
        let serialized = serialized_fs_app(&dir);
        let args = format!("inc-each b n {EACH}");
        let (mut stopped, mut stopped_out) = spawn_child(&serialized, &dir, &args);
        // Let it acknowledge a few (the stop then lands anywhere in a later increment).
        let mut seen = Vec::new();
        let mut line = String::new();
        for _ in 0..(10 + round * 30) {
            line.clear();
            stopped_out.read_line(&mut line).unwrap();
            seen.push(line.trim().parse::<u64>().unwrap());
        }
        signal(&stopped, "STOP");
        let (mut other, other_out) = spawn_child(&serialized, &dir, &args);
        for line in other_out.lines() {
            seen.push(line.unwrap().trim().parse().unwrap());
        }
        // Only a hang detector: the other process needs a fraction of a second to a few.
        let deadline = Instant::now() + Duration::from_secs(300);
        let status = loop {
            if let Some(status) = other.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = other.kill();
                signal(&stopped, "CONT");
                panic!("the other process waited for the stopped one");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "the other process failed");
        signal(&stopped, "CONT");
        for line in stopped_out.lines() {
            seen.push(line.unwrap().trim().parse().unwrap());
        }
        assert!(
            stopped.wait().unwrap().success(),
            "the stopped process failed"
        );
        seen.sort_unstable();
        assert_eq!(seen, (1..=2 * EACH).collect::<Vec<_>>(), "round {round}");
        let out = fs_app(&dir, &["check", "b"]).assert_ok();
        assert_eq!(out.stdout.trim(), format!("ok  n={}", 2 * EACH));
    }
}

/// Runs `ops` with `config`, `host` granted to the guest as `/kv`, and asserts their results.
#[track_caller]
fn check_in_dir(config: &Config, host: &Path, ops: &[(&str, &str)]) {
    let (ops, expected): (Vec<&str>, Vec<&str>) = ops.iter().copied().unzip();
    let outcome = run_configured_with(App::Probe, config, &ops, grant(host)).assert_ok();
    assert!(
        !outcome.stderr.contains(TRACE),
        "trace lines without --trace:\n{}",
        outcome.stderr
    );
    assert_results(&ops, &parse(&ops, &outcome.stdout), &expected);
}

/// The fs backend keeps the data in the granted directory: a new instance reads what an earlier
/// one wrote, through both drafts, and a read-only component reads it and writes nothing.
#[test]
fn data_is_shared_by_both_drafts_and_read_only_instances() {
    let dir = store_dir("keeps-data-through-both-drafts");
    check_in_dir(
        &fs_config(),
        &dir,
        &[
            ("set:b:k=v", "ok"),
            ("inc:b:n:5", "ok 5"),
            ("set-many:b:x=1,y=2", "ok"),
            ("delete:b:x", "ok"),
            ("set:c:k=other bucket", "ok"),
            ("list:b", "ok [\"k\", \"n\", \"y\"]"),
        ],
    );
    assert!(
        std::fs::read(dir.join("FORMAT"))
            .expect("the store has no FORMAT file")
            .starts_with(b"keyvalue-virt store, format 4\nkey ")
    );
    let read_only = Config {
        read_only: true,
        ..fs_config()
    };
    check_in_dir(
        &fs_config(),
        &dir,
        &[
            ("get:b:k", "ok \"v\""),
            ("draft-inc:b:n:1", "ok 6"),
            ("get-many:b:x,y", "ok [none, (\"y\", \"2\")]"),
            ("list:b", "ok [\"k\", \"n\", \"y\"]"),
            ("get:c:k", "ok \"other bucket\""),
            ("list:d", "ok []"),
            ("cas:b:k=w", "new ok, current ok \"v\", swap ok"),
        ],
    );
    check_in_dir(
        &read_only,
        &dir,
        &[
            ("get:b:k", "ok \"w\""),
            ("get:b:n", "ok \"6\""),
            ("set:b:k=read-only", "error access-denied"),
            ("delete:b:y", "error access-denied"),
            ("list:b", "ok [\"k\", \"n\", \"y\"]"),
            ("get:b:k", "ok \"w\""),
        ],
    );
}

/// The fs backend with its directory not granted: `open` says how to grant it.
#[test]
fn without_a_granted_dir_open_says_how_to_grant_it() {
    let ops = ["open:b", "get:b:k", "draft-inc:b:n:1"];
    let probed = probe(Some(&fs_config()), &ops);
    // `get` and `draft-inc` fail at their implicit `open`.
    for result in &probed.results {
        let result = result.strip_prefix("open ").unwrap_or(result);
        assert_other(result, &["`/kv`", "--dir"]);
    }
}

/// The fs backend without `--dir`: `open` says that it needs one.
#[test]
fn without_a_dir_open_says_it_needs_one() {
    let config = Config {
        backend: BackendKind::Fs,
        ..Config::default()
    };
    let probed = probe(Some(&config), &["open:b"]);
    assert_other(&probed.results[0], &["needs a store directory", "--dir"]);
}

/// A seed is written only into a key that never held a value: once the app deletes a seeded
/// key, later instances see it deleted, and a value written over a seed stays.
#[test]
fn a_deleted_seed_stays_deleted_and_a_written_one_stays_written() {
    let dir = store_dir("seeds-respect-deletes");
    let config = Config {
        seeds: vec![
            Seed {
                bucket: "b".into(),
                key: "k".into(),
                value: b"seeded".to_vec(),
            },
            Seed {
                bucket: "b".into(),
                key: "w".into(),
                value: b"seeded".to_vec(),
            },
        ],
        ..fs_config()
    };
    check_in_dir(
        &config,
        &dir,
        &[
            ("get:b:k", "ok \"seeded\""),
            ("delete:b:k", "ok"),
            ("set:b:w=mine", "ok"),
        ],
    );
    check_in_dir(
        &config,
        &dir,
        &[("get:b:k", "ok none"), ("get:b:w", "ok \"mine\"")],
    );
}

/// `--read-only --seed` on an empty directory serves the seeds and writes nothing.
#[test]
fn a_read_only_store_serves_seeds_without_writing() {
    let dir = store_dir("read-only-seeds");
    let config = Config {
        read_only: true,
        seeds: vec![Seed {
            bucket: "b".into(),
            key: "k".into(),
            value: b"seeded".to_vec(),
        }],
        ..fs_config()
    };
    check_in_dir(
        &config,
        &dir,
        &[
            ("get:b:k", "ok \"seeded\""),
            ("exists:b:k", "ok true"),
            ("list:b", "ok [\"k\"]"),
            ("set:b:k=v", "error access-denied"),
        ],
    );
    assert!(files(&dir).is_empty(), "wrote {:?}", files(&dir));
}

/// 8 separate processes × 500 increments of one key: exactly 4000.
#[test]
fn eight_processes_lose_no_increment() {
    let dir = store_dir("process-increments");
    let serialized = serialized_fs_app(&dir);
    let start = Instant::now();
    let children: Vec<_> = (0..8)
        .map(|_| spawn_child(&serialized, &dir, "inc b n 500"))
        .collect();
    for (mut child, out) in children {
        // Each prints its last count; reading it keeps the pipe open until the process ends.
        let last: Vec<String> = out.lines().map(Result::unwrap).collect();
        assert!(
            child.wait().unwrap().success(),
            "a process failed: {last:?}"
        );
    }
    let elapsed = start.elapsed();
    let out = probe_dir(&dir, &["get:b:n"]).assert_ok();
    assert_eq!(out.stdout, "get:b:n -> ok \"4000\"\n");
    eprintln!("8 processes x 500 increments on one key: {elapsed:?}");
}
