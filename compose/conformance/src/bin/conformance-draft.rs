//! The conformance suite as a `wasi:cli` command that imports `wasi:keyvalue@0.2.0-draft`.
//! `--help` lists the options.

use bindings::wasi::keyvalue::{atomics, batch, store};
use keyvalue_virt_conformance::{Entry, Error, KvBucket};

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/deps/keyvalue-0.2.0-draft",
        world: "wasi:keyvalue/imports@0.2.0-draft",
    });
}

fn main() {
    keyvalue_virt_conformance::run(&keyvalue_virt_conformance::draft_checks::<store::Bucket>())
}

fn error(e: store::Error) -> Error {
    match e {
        store::Error::NoSuchStore => Error::NoSuchStore,
        store::Error::AccessDenied => Error::AccessDenied,
        store::Error::Other(message) => Error::Other(message),
    }
}

impl KvBucket for store::Bucket {
    type Cursor = u64;
    const COUNTER_MIN: i128 = 0;
    const COUNTER_MAX: i128 = u64::MAX as i128;

    fn open(identifier: &str) -> Result<Self, Error> {
        store::open(identifier).map_err(error)
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        store::Bucket::get(self, key).map_err(error)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        store::Bucket::set(self, key, value).map_err(error)
    }
    fn delete(&self, key: &str) -> Result<(), Error> {
        store::Bucket::delete(self, key).map_err(error)
    }
    fn exists(&self, key: &str) -> Result<bool, Error> {
        store::Bucket::exists(self, key).map_err(error)
    }
    fn list_keys(&self, cursor: Option<&u64>) -> Result<(Vec<String>, Option<u64>), Error> {
        let response = store::Bucket::list_keys(self, cursor.copied()).map_err(error)?;
        Ok((response.keys, response.cursor))
    }
    fn increment(&self, key: &str, delta: i128) -> Result<i128, Error> {
        let delta = u64::try_from(delta)
            .map_err(|_| Error::Other(format!("delta {delta} does not fit u64")))?;
        atomics::increment(self, key, delta)
            .map(i128::from)
            .map_err(error)
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Entry>, Error> {
        batch::get_many(self, keys).map_err(error)
    }
    fn set_many(&self, key_values: &[(String, Vec<u8>)]) -> Result<(), Error> {
        batch::set_many(self, key_values).map_err(error)
    }
    fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        batch::delete_many(self, keys).map_err(error)
    }
    fn forged_cursors() -> Vec<u64> {
        vec![
            0,
            1,
            7,
            999,
            1000,
            1001,
            12345,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ]
    }
}
