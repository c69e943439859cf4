//! Read-only mode, the size and key limits (`--read-only`, `--max-value-size`, `--max-keys`) and
//! the page size (`--page-keys`).

use keyvalue_virt_core::config::Config;

use crate::probe::*;

/// A read-only store serves reads of its seeds and refuses every write, leaving data as it was.
#[test]
fn read_only_refuses_every_write() {
    let config = Config {
        read_only: true,
        seeds: vec![seed("ro", "k", "v"), seed("ro", "n", "5")],
        ..Config::default()
    };
    check(
        Some(&config),
        &[
            ("get:ro:k", "ok \"v\""),
            ("exists:ro:k", "ok true"),
            ("list:ro", "ok [\"k\", \"n\"]"),
            ("get-many:ro:k,x", "ok [(\"k\", \"v\"), none]"),
            ("draft-get-many:ro:n", "ok [(\"n\", \"5\")]"),
            ("set:ro:k=changed", "error access-denied"),
            ("set:ro:new=1", "error access-denied"),
            ("delete:ro:k", "error access-denied"),
            ("inc:ro:n:1", "error access-denied"),
            ("inc:ro:fresh:1", "error access-denied"),
            ("draft-inc:ro:n:1", "error access-denied"),
            ("set-many:ro:k=x,new=y", "error access-denied"),
            ("delete-many:ro:k,n", "error access-denied"),
            (
                "cas:ro:k=swapped",
                "new ok, current ok \"v\", swap error access-denied",
            ),
            ("set:other:k=v", "error access-denied"),
            ("get:ro:k", "ok \"v\""),
            ("get:ro:n", "ok \"5\""),
            ("exists:ro:new", "ok false"),
            ("exists:ro:fresh", "ok false"),
            ("list:ro", "ok [\"k\", \"n\"]"),
            ("list:other", "ok []"),
        ],
    );
}

/// A value at `--max-value-size` is stored; one byte more is refused, by every write.
#[test]
fn max_value_size_refuses_larger_values() {
    let config = Config {
        max_value_size: Some(8),
        ..Config::default()
    };
    let ops = [
        "set:b:k=12345678",
        "set:b:k=123456789",
        "get:b:k",
        "set:b:e=",
        "set-many:b:x=1,y=123456789",
        "get-many:b:x,y",
        "set-many:b:x=1,y=12345678",
        "get-many:b:x,y",
        "cas:b:k=123456789",
        "cas:b:k=abcdefgh",
        "inc:b:n:99999999",
        "inc:b:n:1",
        "get:b:n",
        "get:b:k",
    ];
    let probed = probe(Some(&config), &ops);
    let r = &probed.results;
    let limit = ["--max-value-size", "9 bytes", "8 bytes"];
    assert_eq!(r[0], "ok");
    assert_other(&r[1], &limit);
    assert_eq!(r[2], "ok \"12345678\"", "a refused set changed the value");
    assert_eq!(r[3], "ok");
    assert_other(&r[4], &limit);
    assert_eq!(
        r[5], "ok [none, none]",
        "a refused set-many stored something"
    );
    assert_eq!(r[6], "ok");
    assert_eq!(r[7], "ok [(\"x\", \"1\"), (\"y\", \"12345678\")]");
    let swap = r[8]
        .strip_prefix("new ok, current ok \"12345678\", swap ")
        .unwrap_or_else(|| panic!("unexpected cas result {:?}", r[8]));
    assert_other(swap, &limit);
    assert_eq!(r[9], "new ok, current ok \"12345678\", swap ok");
    assert_eq!(r[10], "ok 99999999");
    assert_other(&r[11], &["--max-value-size"]);
    assert_eq!(
        r[12], "ok \"99999999\"",
        "a refused increment changed the value"
    );
    assert_eq!(r[13], "ok \"abcdefgh\"");
}

/// A bucket at `--max-keys` refuses new keys but still overwrites and deletes existing ones.
#[test]
fn max_keys_refuses_new_keys_in_a_full_bucket() {
    let config = Config {
        max_keys: Some(3),
        ..Config::default()
    };
    let ops = [
        "set:b:a=1",
        "set:b:b=2",
        "set:b:c=3",
        "set:b:d=4",
        "set:b:a=updated",
        "inc:b:n:1",
        "cas:b:d=4",
        "set-many:b:a=x,c=y",
        "list:b",
        "delete:b:b",
        "set:b:d=4",
        "list:b",
        "delete:b:d",
        // Batches are not atomic: `x` fits and is stored, `y` does not.
        "set-many:b:x=1,y=2",
        "list:b",
        "get-many:b:a,c,x",
        "set:other:a=1",
        "set:other:b=2",
        "set:other:c=3",
        "list:other",
    ];
    let probed = probe(Some(&config), &ops);
    let r = &probed.results;
    let full = ["--max-keys", "\"b\"", "3"];
    assert_eq!(r[..3], ["ok", "ok", "ok"]);
    assert_other(&r[3], &full);
    assert_eq!(r[4], "ok", "overwriting a key of a full bucket");
    assert_other(&r[5], &full);
    let swap = r[6]
        .strip_prefix("new ok, current ok none, swap ")
        .unwrap_or_else(|| panic!("unexpected cas result {:?}", r[6]));
    assert_other(swap, &full);
    assert_eq!(r[7], "ok", "set-many overwriting keys of a full bucket");
    assert_eq!(r[8], "ok [\"a\", \"b\", \"c\"]");
    assert_eq!(r[9..12], ["ok", "ok", "ok [\"a\", \"c\", \"d\"]"]);
    assert_eq!(r[12], "ok");
    assert_other(&r[13], &full);
    assert_eq!(r[14], "ok [\"a\", \"c\", \"x\"]");
    assert_eq!(r[15], "ok [(\"a\", \"x\"), (\"c\", \"y\"), (\"x\", \"1\")]");
    assert_eq!(r[16..], ["ok", "ok", "ok", "ok [\"a\", \"b\", \"c\"]"]);
}

/// `--page-keys 2`: every `list-keys` page holds at most two keys (the trace shows each page),
/// and a walk that follows the cursor still lists every key once.
#[test]
fn page_keys_caps_every_page() {
    let config = Config {
        page_keys: Some(2),
        trace: keyvalue_virt_core::config::Trace::Text,
        seeds: (1..=5).map(|i| seed("p", &format!("k{i}"), "v")).collect(),
        ..Config::default()
    };
    let probed = probe(Some(&config), &["list:p"]);
    assert_eq!(
        probed.results,
        ["ok [\"k1\", \"k2\", \"k3\", \"k4\", \"k5\"]"]
    );
    let pages: Vec<&str> = probed
        .stderr
        .lines()
        .filter(|line| line.contains("list-keys"))
        .collect();
    assert_eq!(
        pages,
        [
            "keyvalue-virt: list-keys bucket=\"p\" -> ok (2 keys, more)",
            "keyvalue-virt: list-keys bucket=\"p\" -> ok (2 keys, more)",
            "keyvalue-virt: list-keys bucket=\"p\" -> ok (1 key)",
        ],
        "{}",
        probed.stderr
    );
}
