//! The conformance suite as a `wasi:cli` command that imports `wasi:keyvalue@0.2.0-draft2` as
//! tagged (`get-many` returns an optional pair per key). `--help` lists the options.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/deps/keyvalue-0.2.0-draft2",
        world: "wasi:keyvalue/imports@0.2.0-draft2",
    });
}

keyvalue_virt_conformance::draft2_command!(|bucket, keys| batch::get_many(bucket, keys));
