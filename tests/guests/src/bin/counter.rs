//! The example app of the README: counts the names given on its command line with
//! `wasi:keyvalue@0.2.0-draft`, then prints every count.
//!
//! It imports `wasi:keyvalue` like any app would; plugged with keyvalue-virt it runs on a runtime
//! with no key-value support, and on `wasmtime run -S keyvalue` it runs without the plug.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/deps/keyvalue-0.2.0-draft",
        world: "wasi:keyvalue/imports@0.2.0-draft",
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};

fn main() -> Result<(), String> {
    let bucket = store::open("").map_err(describe)?;
    for name in std::env::args().skip(1) {
        let count = atomics::increment(&bucket, &name, 1).map_err(describe)?;
        println!("hello {name}: visit {count}");
    }

    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = bucket.list_keys(cursor).map_err(describe)?;
        keys.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    keys.sort();
    for (name, count) in batch::get_many(&bucket, &keys)
        .map_err(describe)?
        .into_iter()
        .flatten()
    {
        println!("{name}: {}", String::from_utf8_lossy(&count));
    }
    Ok(())
}

fn describe(error: store::Error) -> String {
    match error {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied".into(),
        store::Error::Other(message) => message,
    }
}
