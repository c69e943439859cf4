//! The body of the draft2 commands, which differ only in the shape of `get-many`.

/// Implements [`KvBucket`](crate::KvBucket) and [`KvCas`](crate::KvCas) for draft2's bindings,
/// generated in the calling crate's `bindings` module, and defines `main`, which runs
/// [`draft2_checks`](crate::draft2_checks). `|bucket, keys| EXPR` is `get-many` in the shape of
/// the bindings, as the tagged draft's entries.
#[macro_export]
macro_rules! draft2_command {
    (|$bucket:ident, $keys:ident| $get_many:expr) => {
        use bindings::wasi::keyvalue::{atomics, batch, store};
        use $crate::{CasError, Entry, Error, KvBucket, KvCas};

        fn main() {
            $crate::run(&$crate::draft2_checks::<store::Bucket>())
        }

        fn error(e: store::Error) -> Error {
            match e {
                store::Error::NoSuchStore => Error::NoSuchStore,
                store::Error::AccessDenied => Error::AccessDenied,
                store::Error::Other(message) => Error::Other(message),
            }
        }

        impl KvBucket for store::Bucket {
            type Cursor = String;
            const COUNTER_MIN: i128 = i64::MIN as i128;
            const COUNTER_MAX: i128 = i64::MAX as i128;

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
            fn list_keys(
                &self,
                cursor: Option<&String>,
            ) -> Result<(Vec<String>, Option<String>), Error> {
                let response =
                    store::Bucket::list_keys(self, cursor.map(String::as_str)).map_err(error)?;
                Ok((response.keys, response.cursor))
            }
            fn increment(&self, key: &str, delta: i128) -> Result<i128, Error> {
                let delta = i64::try_from(delta)
                    .map_err(|_| Error::Other(format!("delta {delta} does not fit s64")))?;
                atomics::increment(self, key, delta)
                    .map(i128::from)
                    .map_err(error)
            }
            fn get_many(&self, keys: &[String]) -> Result<Vec<Entry>, Error> {
                let ($bucket, $keys) = (self, keys);
                $get_many.map_err(error)
            }
            fn set_many(&self, key_values: &[(String, Vec<u8>)]) -> Result<(), Error> {
                batch::set_many(self, key_values).map_err(error)
            }
            fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
                batch::delete_many(self, keys).map_err(error)
            }
            fn forged_cursors() -> Vec<String> {
                let huge = "c".repeat(1 << 20);
                [
                    "",
                    "garbage",
                    "0",
                    "1",
                    "1000",
                    "-1",
                    "\0",
                    "ключ🔑",
                    "AAAAAAAAAAAAAAAA",
                    &huge,
                ]
                .map(String::from)
                .into()
            }
        }

        impl KvCas for store::Bucket {
            type Cas = atomics::Cas;

            fn cas_new(&self, key: &str) -> Result<atomics::Cas, Error> {
                atomics::Cas::new(self, key).map_err(error)
            }
            fn cas_current(cas: &atomics::Cas) -> Result<Option<Vec<u8>>, Error> {
                cas.current().map_err(error)
            }
            fn swap(cas: atomics::Cas, value: &[u8]) -> Result<(), CasError<atomics::Cas>> {
                atomics::swap(cas, value).map_err(|e| match e {
                    atomics::CasError::StoreError(e) => CasError::StoreError(error(e)),
                    atomics::CasError::CasFailed(cas) => CasError::CasFailed(cas),
                })
            }
        }
    };
}
