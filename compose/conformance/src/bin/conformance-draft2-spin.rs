//! The conformance suite as a `wasi:cli` command that imports `wasi:keyvalue@0.2.0-draft2` in
//! the shape Spin ships, that of upstream's open (unmerged) PR #55: `get-many` returns each key
//! with an optional value. Upstream's main branch has the tagged shape (the `draft2` suite).
//! `--help` lists the options.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/draft2-spin/deps/keyvalue-0.2.0-draft2",
        world: "wasi:keyvalue/imports@0.2.0-draft2",
    });
}

keyvalue_virt_conformance::draft2_command!(|bucket, keys| batch::get_many(bucket, keys).map(
    |pairs| {
        pairs
            .into_iter()
            .map(|(key, value)| value.map(|value| (key, value)))
            .collect()
    }
));
