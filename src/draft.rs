//! `wasi:keyvalue@0.2.0-draft`: conversions between the draft's types and the core's.

use alloc::string::String;
use alloc::vec::Vec;

use crate::Component;
use crate::bindings::exports::wasi::keyvalue0_2_0_draft::{atomics, batch, store};
use keyvalue_virt_core::config::ErrorCase;
use keyvalue_virt_core::{Bucket, Cursor, Error};

impl From<Error> for store::Error {
    fn from(error: Error) -> Self {
        match error.into_case() {
            ErrorCase::NoSuchStore => store::Error::NoSuchStore,
            ErrorCase::AccessDenied => store::Error::AccessDenied,
            ErrorCase::Other(message) => store::Error::Other(message),
        }
    }
}

impl store::Guest for Component {
    type Bucket = Bucket;

    fn open(identifier: String) -> Result<store::Bucket, store::Error> {
        Ok(store::Bucket::new(keyvalue_virt_core::open(&identifier)?))
    }
}

impl store::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, store::Error> {
        Ok(Bucket::get(self, &key)?)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), store::Error> {
        Ok(Bucket::set(self, key, value)?)
    }

    fn delete(&self, key: String) -> Result<(), store::Error> {
        Ok(Bucket::delete(self, &key)?)
    }

    fn exists(&self, key: String) -> Result<bool, store::Error> {
        Ok(Bucket::exists(self, &key)?)
    }

    fn list_keys(&self, cursor: Option<u64>) -> Result<store::KeyResponse, store::Error> {
        let page = Bucket::list_keys_from(self, cursor, Cursor::from_u64)?;
        Ok(store::KeyResponse {
            keys: page.keys,
            cursor: page.next.map(Cursor::to_u64),
        })
    }
}

impl atomics::Guest for Component {
    fn increment(
        bucket: store::BucketBorrow<'_>,
        key: String,
        delta: u64,
    ) -> Result<u64, store::Error> {
        Ok(bucket.get::<Bucket>().increment(&key, delta)?)
    }
}

impl batch::Guest for Component {
    fn get_many(
        bucket: store::BucketBorrow<'_>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, store::Error> {
        let pairs = bucket.get::<Bucket>().get_many(keys)?;
        Ok(pairs
            .into_iter()
            .map(|(key, value)| value.map(|value| (key, value)))
            .collect())
    }

    fn set_many(
        bucket: store::BucketBorrow<'_>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), store::Error> {
        Ok(bucket.get::<Bucket>().set_many(key_values)?)
    }

    fn delete_many(bucket: store::BucketBorrow<'_>, keys: Vec<String>) -> Result<(), store::Error> {
        Ok(bucket.get::<Bucket>().delete_many(keys)?)
    }
}
