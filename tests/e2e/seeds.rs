//! Seeds: data present from the start (`--seed`, `--seed-file`).

use keyvalue_virt_core::config::Config;

use crate::probe::*;

fn binary_value() -> Vec<u8> {
    (0..=255).collect()
}

/// Seeds in several buckets, binary and empty values, an empty key, and the counter that
/// wasmtime's key-value test program expects its in-memory store to hold.
fn seeds_config() -> Config {
    Config {
        seeds: vec![
            seed("", "atomics_key", "5"),
            seed("a", "k1", "one"),
            seed("a", "k2", "two"),
            seed("b", "k1", "other bucket"),
            seed("b", "", "empty key"),
            seed("bin", "bytes", binary_value()),
            seed("bin", "small", *b"\0\xff\"\\\n"),
            seed("bin", "empty", ""),
        ],
        ..Config::default()
    }
}

#[test]
fn seeds_are_visible_in_their_buckets() {
    let bytes = long_value(&binary_value());
    check(
        Some(&seeds_config()),
        &[
            ("get:a:k1", "ok \"one\""),
            ("get:a:k2", "ok \"two\""),
            ("get:b:k1", "ok \"other bucket\""),
            ("get:b:", "ok \"empty key\""),
            ("get:a:missing", "ok none"),
            ("get:c:k1", "ok none"),
            ("exists:a:k1", "ok true"),
            ("list:a", "ok [\"k1\", \"k2\"]"),
            ("list:b", "ok [\"\", \"k1\"]"),
            ("list:bin", "ok [\"bytes\", \"empty\", \"small\"]"),
            ("list:c", "ok []"),
            (
                "get-many:a:k2,nope,k1",
                "ok [(\"k2\", \"two\"), none, (\"k1\", \"one\")]",
            ),
            (
                "draft-get-many:b:,k1",
                "ok [(\"\", \"empty key\"), (\"k1\", \"other bucket\")]",
            ),
            ("get:bin:bytes", &bytes),
            ("get:bin:small", "ok \"\\x00\\xff\\\"\\\\\\n\""),
            ("get:bin:empty", "ok \"\""),
            // Seeds are stored once per instance: a later open does not restore them.
            ("set:a:k1=changed", "ok"),
            ("delete:a:k2", "ok"),
            ("open:a", "ok"),
            ("get:a:k1", "ok \"changed\""),
            ("get:a:k2", "ok none"),
        ],
    );
}

/// wasmtime's `keyvalue` test program expects bucket `""` to hold `atomics_key` = 5 and the
/// draft's `increment` by 1 to return 6, then `list-keys` to return just that key.
#[test]
fn seeded_counter_works_like_wasmtimes_test_program() {
    check(
        Some(&seeds_config()),
        &[
            ("draft-inc::atomics_key:1", "ok 6"),
            ("list:", "ok [\"atomics_key\"]"),
            ("inc::atomics_key:1", "ok 7"),
            ("get::atomics_key", "ok \"7\""),
        ],
    );
}

/// A large configuration (a 3 MiB value and 2000 keys) lives in memory pages that baking adds
/// past the module's initial memory. The allocator must never hand them out: not before the
/// configuration is read, nor after (the app stores 200 values of 64 KiB and reads the seeds
/// back byte for byte).
///
/// The virt reads its configuration during its first call, after the canonical ABI has copied
/// that call's arguments into the virt's memory with its allocator: the first `open` passes a
/// 1 MiB name, larger than the free heap of the initial memory (about 55 KiB) and smaller than
/// the configuration, so an allocator that took the added pages for free heap would write the
/// name over the configuration, and `open` would fail with "corrupt".
#[test]
fn large_seed_survives_heavy_allocation() {
    let blob: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut seeds = vec![seed("big", "blob", blob.clone())];
    seeds.extend((0..2000).map(|i| seed("big", &format!("key{i:04}"), format!("v{i}"))));
    let config = Config {
        seeds,
        ..Config::default()
    };

    let mut keys: Vec<String> = (0..2000).map(|i| format!("key{i:04}")).collect();
    keys.push("blob".into());
    keys.sort();
    let listed = format!("ok {keys:?}");
    let blob = long_value(&blob);
    let huge_open = format!("open:{}", "x".repeat(1 << 20));
    check(
        Some(&config),
        &[
            (&huge_open, "ok"),
            ("get:big:blob", &blob),
            ("fill:scratch:f:200:65536", "ok"),
            ("get:big:blob", &blob),
            ("get:big:key0000", "ok \"v0\""),
            ("get:big:key1999", "ok \"v1999\""),
            (
                "get-many:big:key0500,key1500",
                "ok [(\"key0500\", \"v500\"), (\"key1500\", \"v1500\")]",
            ),
            ("list:big", &listed),
            ("get:scratch:f199", &long_value(&fill_value(199, 65536))),
            ("fill:scratch:g:200:65536", "ok"),
            ("get:big:blob", &blob),
        ],
    );
}
