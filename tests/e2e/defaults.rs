//! A component with nothing baked in, and one with the default configuration baked in.

use keyvalue_virt_core::config::Config;

use crate::probe::*;

/// The operations of the defaults test and what a component without configuration returns.
fn default_behaviour() -> Vec<(&'static str, String)> {
    let big = long_value(&fill_value(0, 4 << 20));
    [
        ("open:any", "ok"),
        ("open:", "ok"),
        ("open:default", "ok"),
        ("open:secret", "ok"),
        ("set:b:k=v", "ok"),
        ("get:b:k", "ok \"v\""),
        ("fill:b:big:1:4194304", "ok"),
        ("get:b:big0", &big),
        ("fill:many:k:1500:1", "ok"),
        ("exists:many:k1499", "ok true"),
        ("get:many:k1499", "ok \"\\xf4\""),
        ("inc:b:n:-3", "ok -3"),
        ("draft-inc:b:m:7", "ok 7"),
        ("cas:b:k=w", "new ok, current ok \"v\", swap ok"),
        ("get:b:k", "ok \"w\""),
        ("set-many:b:x=1,y=2", "ok"),
        ("delete-many:b:x,k", "ok"),
        ("list:b", "ok [\"big0\", \"m\", \"n\", \"y\"]"),
    ]
    .into_iter()
    .map(|(op, result)| (op, result.to_owned()))
    .collect()
}

/// A component with nothing baked in opens any bucket and has no limits, faults or trace.
#[test]
fn plain_component_uses_the_defaults() {
    let expected = default_behaviour();
    let pairs: Vec<(&str, &str)> = expected.iter().map(|(op, r)| (*op, r.as_str())).collect();
    check(None, &pairs);
}

/// Baking `Config::default()` changes nothing.
#[test]
fn default_config_behaves_like_plain() {
    let expected = default_behaviour();
    let pairs: Vec<(&str, &str)> = expected.iter().map(|(op, r)| (*op, r.as_str())).collect();
    check(Some(&Config::default()), &pairs);
}
