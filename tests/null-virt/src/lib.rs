//! A component that exports `wasi:keyvalue@0.2.0-draft` and does nothing: every write is
//! dropped and every read returns the same 100 bytes (the benchmark's value size), or 1 MiB for
//! a key that starts with `mib-` (the benchmark's large values), so that the results cross the
//! component boundary just as keyvalue-virt's do. Plugged into an app exactly
//! like keyvalue-virt, it measures what a call costs the runtime alone: the floor our
//! benchmarks compare against.

// Only a component: built natively (`cargo build --workspace`) the crate is empty, since the
// component's imports would not link.
#![cfg(target_arch = "wasm32")]

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package keyvalue-virt:null;
            world null {
                export wasi:keyvalue/store@0.2.0-draft;
                export wasi:keyvalue/atomics@0.2.0-draft;
                export wasi:keyvalue/batch@0.2.0-draft;
            }
        ",
        path: "../../wit/deps/keyvalue-0.2.0-draft",
        world: "keyvalue-virt:null/null",
        generate_all,
    });

    use super::Null;
    export!(Null);
}

use bindings::exports::wasi::keyvalue::{atomics, batch, store};

struct Null;

const VALUE: [u8; 100] = [7; 100];
/// The size of the value returned for a key that starts with [`MIB_PREFIX`].
const MIB: usize = 1 << 20;
/// The prefix of the benchmark's keys of 1-MiB values.
const MIB_PREFIX: &str = "mib-";

/// The value a read of `key` returns.
fn value(key: &str) -> Vec<u8> {
    if key.starts_with(MIB_PREFIX) {
        vec![7; MIB]
    } else {
        VALUE.to_vec()
    }
}

struct Bucket;

impl store::Guest for Null {
    type Bucket = Bucket;

    fn open(_: String) -> Result<store::Bucket, store::Error> {
        Ok(store::Bucket::new(Bucket))
    }
}

impl store::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, store::Error> {
        Ok(Some(value(&key)))
    }

    fn set(&self, _: String, _: Vec<u8>) -> Result<(), store::Error> {
        Ok(())
    }

    fn delete(&self, _: String) -> Result<(), store::Error> {
        Ok(())
    }

    fn exists(&self, _: String) -> Result<bool, store::Error> {
        Ok(true)
    }

    fn list_keys(&self, _: Option<u64>) -> Result<store::KeyResponse, store::Error> {
        Ok(store::KeyResponse {
            keys: Vec::new(),
            cursor: None,
        })
    }
}

impl atomics::Guest for Null {
    fn increment(_: store::BucketBorrow<'_>, _: String, delta: u64) -> Result<u64, store::Error> {
        Ok(delta)
    }
}

impl batch::Guest for Null {
    fn get_many(
        _: store::BucketBorrow<'_>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, store::Error> {
        Ok(keys
            .into_iter()
            .map(|key| {
                let value = value(&key);
                Some((key, value))
            })
            .collect())
    }

    fn set_many(_: store::BucketBorrow<'_>, _: Vec<(String, Vec<u8>)>) -> Result<(), store::Error> {
        Ok(())
    }

    fn delete_many(_: store::BucketBorrow<'_>, _: Vec<String>) -> Result<(), store::Error> {
        Ok(())
    }
}
