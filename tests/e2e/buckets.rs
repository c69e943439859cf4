//! The bucket allow and deny lists (`--bucket`, `--deny-bucket`).

use keyvalue_virt_core::config::Config;

use crate::probe::*;

/// With an allow list only the listed buckets open; a bucket both allowed and denied is denied.
#[test]
fn allow_list_opens_only_listed_buckets() {
    let config = Config {
        allow: vec!["a".into(), "".into(), "secret".into()],
        deny: vec!["secret".into()],
        ..Config::default()
    };
    check(
        Some(&config),
        &[
            ("open:a", "ok"),
            ("open:", "ok"),
            ("open:b", "error access-denied"),
            ("open:A", "error access-denied"),
            ("open:default", "error access-denied"),
            ("open:secret", "error access-denied"),
            ("get:b:k", "open error access-denied"),
            ("draft-inc:b:n:1", "open error access-denied"),
            ("set:a:k=v", "ok"),
            ("get:a:k", "ok \"v\""),
            ("draft-inc::n:1", "ok 1"),
        ],
    );
}

/// With a deny list the denied buckets never open and every other bucket does.
#[test]
fn deny_list_closes_denied_buckets() {
    let config = Config {
        deny: vec!["secret".into(), "".into()],
        ..Config::default()
    };
    check(
        Some(&config),
        &[
            ("open:secret", "error access-denied"),
            ("open:", "error access-denied"),
            ("open:other", "ok"),
            ("open:Secret", "ok"),
            ("open:default", "ok"),
            ("get:secret:k", "open error access-denied"),
            ("draft-inc::n:1", "open error access-denied"),
            ("set:other:k=v", "ok"),
            ("get:other:k", "ok \"v\""),
        ],
    );
}
