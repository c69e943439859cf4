//! A `wasi:cli` command that imports `wasi:keyvalue@0.2.0-draft2` in the shape Spin ships and
//! upstream's main branch has since PR #55 (`get-many` returns a key and an optional value per
//! key), and checks one scenario, named by `argv[1]` (see `src/draft2_app.rs`).

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/draft2-spin/deps/keyvalue-0.2.0-draft2",
        world: "wasi:keyvalue/imports@0.2.0-draft2",
    });
}

#[path = "../draft2_app.rs"]
mod app;

use bindings::wasi::keyvalue::{batch, store};
use keyvalue_virt_test_guests::Entry;

/// `get-many` of this shape, as the tagged shape's pairs: `none` for a key without a value.
fn get_many(bucket: &store::Bucket, keys: &[String]) -> Result<Vec<Entry>, store::Error> {
    let pairs = batch::get_many(bucket, keys)?;
    Ok(pairs
        .into_iter()
        .map(|(key, value)| value.map(|value| (key, value)))
        .collect())
}

fn main() {
    app::main()
}
