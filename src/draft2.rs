//! `wasi:keyvalue@0.2.0-draft2`: conversions between the draft's types and the core's.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::Component;
use crate::bindings::exports::wasi::keyvalue0_2_0_draft2::{atomics, batch, store};
use keyvalue_virt_core::config::ErrorCase;
use keyvalue_virt_core::{Bucket, Cas, Cursor, Error};

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

    fn list_keys(&self, cursor: Option<String>) -> Result<store::KeyResponse, store::Error> {
        let page = Bucket::list_keys_from(self, cursor, |text| text.parse::<Cursor>())?;
        Ok(store::KeyResponse {
            keys: page.keys,
            cursor: page.next.map(|cursor| cursor.to_string()),
        })
    }
}

impl atomics::Guest for Component {
    type Cas = Cas;

    fn increment(
        bucket: store::BucketBorrow<'_>,
        key: String,
        delta: i64,
    ) -> Result<i64, store::Error> {
        Ok(bucket.get::<Bucket>().increment(&key, delta)?)
    }

    fn swap(cas: atomics::Cas, value: Vec<u8>) -> Result<(), atomics::CasError> {
        match cas.get::<Cas>().swap(value) {
            Ok(true) => Ok(()),
            // The handle now holds the latest version: hand it back for the retry.
            Ok(false) => Err(atomics::CasError::CasFailed(cas)),
            Err(error) => Err(atomics::CasError::StoreError(error.into())),
        }
    }
}

impl atomics::GuestCas for Cas {
    fn new(bucket: store::BucketBorrow<'_>, key: String) -> Result<atomics::Cas, store::Error> {
        Ok(atomics::Cas::new(bucket.get::<Bucket>().cas(key)?))
    }

    fn current(&self) -> Result<Option<Vec<u8>>, store::Error> {
        Ok(Cas::current(self)?)
    }
}

impl batch::Guest for Component {
    #[cfg(not(feature = "draft2-spin"))]
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

    /// The shape Spin ships (upstream's open PR #55): each key, with its value if it has one.
    #[cfg(feature = "draft2-spin")]
    fn get_many(
        bucket: store::BucketBorrow<'_>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, store::Error> {
        Ok(bucket.get::<Bucket>().get_many(keys)?)
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
