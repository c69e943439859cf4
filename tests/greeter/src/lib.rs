//! The example app of `keyvalue-virt test`: a library component exporting
//! `example:greeter/greeter@0.1.0`, which counts visits per name with `increment` in bucket `""`
//! of `wasi:keyvalue@0.2.0-draft2` and greets. Its test components call it through that export.

// Only a component: built natively (`cargo build --workspace`) the crate is empty, since the
// component's imports would not link.
#![cfg(target_arch = "wasm32")]

mod bindings {
    wit_bindgen::generate!({
        path: [
            "../../wit/deps/keyvalue-0.2.0-draft2",
            "../../wit/test",
            "wit",
        ],
        world: "example:greeter/greeter-app@0.1.0",
        generate_all,
    });

    use super::Greeter;
    export!(Greeter);
}

use bindings::exports::example::greeter::greeter::Guest;
use bindings::wasi::keyvalue::{atomics, store};

/// The bucket that holds the counts.
const BUCKET: &str = "";

struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> Result<String, String> {
        let bucket = open()?;
        let visit = atomics::increment(&bucket, &name, 1)
            .map_err(|e| format!("cannot count the visit of `{name}`: {}", error(&e)))?;
        Ok(format!("hello {name}: visit {visit}"))
    }

    fn visits(name: String) -> Result<u64, String> {
        let bucket = open()?;
        let Some(value) = bucket
            .get(&name)
            .map_err(|e| format!("cannot read the visits of `{name}`: {}", error(&e)))?
        else {
            return Ok(0);
        };
        std::str::from_utf8(&value)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| format!("the visits of `{name}` are not a decimal number"))
    }
}

fn open() -> Result<store::Bucket, String> {
    store::open(BUCKET).map_err(|e| format!("cannot open bucket {BUCKET:?}: {}", error(&e)))
}

fn error(error: &store::Error) -> String {
    match error {
        store::Error::NoSuchStore => "no such store".to_owned(),
        store::Error::AccessDenied => "access denied".to_owned(),
        store::Error::Other(message) => message.clone(),
    }
}
