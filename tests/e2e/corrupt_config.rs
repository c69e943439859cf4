//! A damaged baked configuration: every operation says so, nothing traps.

use keyvalue_virt_compose::bake;
use keyvalue_virt_core::config::{Config, SLOT_MAGIC};
use keyvalue_virt_harness::{App, baked_virt, run_plugged};

use crate::probe::*;

/// The configuration the corruption tests bake, and alter in the baked bytes.
fn corruptible() -> Config {
    Config {
        allow: vec!["b".into()],
        seeds: vec![seed("b", "k", "seeded for the corruption test")],
        ..Config::default()
    }
}

/// The offset of the only occurrence of `needle` in `haystack`.
#[track_caller]
fn find_once(haystack: &[u8], needle: &[u8]) -> usize {
    let mut hits = haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, window)| window == &needle)
        .map(|(at, _)| at);
    let first = hits.next().expect("not found in the baked component");
    assert!(hits.next().is_none(), "found more than once");
    first
}

/// Bakes [`corruptible`], lets `edit` alter the component bytes at the offset of the encoded
/// configuration (which starts with `KVCF`), then runs the probe with it: every operation must
/// return `error other` saying that the configuration is corrupt and to rebuild, with no trap.
#[track_caller]
fn assert_corrupt_config_reported(edit: impl FnOnce(&mut Vec<u8>, usize), problem: &str) {
    let config = corruptible();
    let mut virt = baked_virt(&config);
    let at = find_once(&virt, &config.encode());
    assert_eq!(&virt[at..at + 4], b"KVCF");
    edit(&mut virt, at);
    let ops = [
        "open:b",
        "get:b:k",
        "draft-inc:b:n:1",
        "open:b",
        "open:other",
    ];
    let outcome = run_plugged(App::Probe, &virt, &ops).assert_ok();
    let probed = parse(&ops, &outcome.stdout);
    for (op, result) in ops.iter().zip(&probed.results) {
        let result = result.strip_prefix("open ").unwrap_or(result);
        assert!(
            result.starts_with("error other: the baked configuration"),
            "{op}: {result}"
        );
        assert_other(result, &[problem, "rebuild", "keyvalue-virt build"]);
    }
    assert_eq!(outcome.stderr, "", "stderr of a corrupt configuration");
}

/// A format version this build does not read.
#[test]
fn corrupt_version_is_reported_not_trapped() {
    assert_corrupt_config_reported(
        |virt, at| virt[at + 4] = 99,
        "the configuration format is not the one this build reads",
    );
}

/// A list count far beyond the configuration's end.
#[test]
fn corrupt_length_is_reported_not_trapped() {
    // After `KVCF`, the version, the backend and the `dir` flag (0): the allow list's count.
    assert_corrupt_config_reported(
        |virt, at| virt[at + 7..at + 11].copy_from_slice(&0x7fff_fff0_u32.to_le_bytes()),
        "truncated",
    );
}

/// A configuration slot whose address points past the end of memory.
#[test]
fn slot_outside_memory_is_reported_not_trapped() {
    assert_corrupt_config_reported(
        |virt, _| {
            let slot = find_once(virt, SLOT_MAGIC);
            virt[slot + 16..slot + 20].copy_from_slice(&0xffff_0000_u32.to_le_bytes());
        },
        "outside memory",
    );
}

/// The baked bytes the corruption tests alter are really the configuration: unaltered, they
/// read back and the component runs with them.
#[test]
fn corruptible_config_reads_back_intact() {
    let config = corruptible();
    let virt = baked_virt(&config);
    assert_eq!(bake::read(&virt).unwrap(), Some(config.clone()));
    check(
        Some(&config),
        &[
            ("get:b:k", "ok \"seeded for the corruption test\""),
            ("open:other", "error access-denied"),
        ],
    );
}
