//! A `wasi:cli` command that imports `wasi:keyvalue@0.2.0-draft2` as tagged and checks one
//! scenario, named by `argv[1]` (see `src/draft2_app.rs`).

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/deps/keyvalue-0.2.0-draft2",
        world: "wasi:keyvalue/imports@0.2.0-draft2",
    });
}

#[path = "../draft2_app.rs"]
mod app;

use bindings::wasi::keyvalue::{batch, store};
use keyvalue_virt_test_guests::Entry;

/// `get-many` of the tagged draft2: an optional pair per key.
fn get_many(bucket: &store::Bucket, keys: &[String]) -> Result<Vec<Entry>, store::Error> {
    batch::get_many(bucket, keys)
}

fn main() {
    app::main()
}
