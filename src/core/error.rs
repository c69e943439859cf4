//! The errors of the storage core, converted to each draft's `error` variant in one place
//! ([`Error::into_case`]).

use core::fmt;

use crate::config::ErrorCase;
use crate::prelude::*;

/// Everything that can go wrong inside the component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The bucket identifier is not served (`error::no-such-store`).
    NoSuchStore,
    /// The caller may not do this (`error::access-denied`).
    AccessDenied,
    /// A cursor that this component did not hand out.
    MalformedCursor,
    /// A cursor handed out for another bucket.
    ForeignCursor,
    /// `increment` found a value that is not a decimal number of the draft's type.
    NotANumber {
        /// The key whose value is not a number.
        key: String,
        /// `u64` or `s64`.
        ty: &'static str,
    },
    /// `increment` would leave the range of the draft's type.
    Overflow {
        /// The key being incremented.
        key: String,
        /// `u64` or `s64`.
        ty: &'static str,
        /// The stored value.
        current: String,
        /// The delta that was asked for.
        delta: String,
    },
    /// The bucket holds as many keys as it can address.
    BucketFull,
    /// The baked configuration cannot be read.
    Config(String),
    /// A fault injected with `--fail OP=other:MESSAGE`.
    Injected(String),
    /// The allow or deny list keeps this bucket closed (`access-denied`).
    BucketNotAllowed {
        /// The bucket asked for.
        bucket: String,
        /// The allow list (empty: every bucket not denied).
        allowed: Vec<String>,
    },
    /// The store is read-only (`access-denied`).
    ReadOnly,
    /// A control-interface write to an fs store baked `--read-only`, whose directory is
    /// never written.
    ControlReadOnly,
    /// A value larger than `--max-value-size`.
    ValueTooLarge {
        /// The key written.
        key: String,
        /// The value's size.
        len: usize,
        /// The limit.
        max: u64,
    },
    /// A new key in a bucket that holds `--max-keys` keys.
    TooManyKeys {
        /// The bucket.
        bucket: String,
        /// The limit.
        max: u64,
    },
    /// The configured backend is not part of this build.
    BackendUnavailable(&'static str),
    /// The fs backend was configured without a store directory.
    NoStoreDir,
    /// The store directory cannot serve as a store.
    StoreDir {
        /// The directory, as the component sees it.
        dir: String,
        /// What is wrong, and what to do (naming `--dir` where another directory helps).
        problem: String,
    },
    /// A file operation in the store directory failed.
    FsIo {
        /// The file or directory.
        path: String,
        /// What was being done, as a verb phrase (`read`, `create the lock file`).
        action: &'static str,
        /// The system's error.
        cause: String,
    },
    /// A file in the store directory is not a valid record.
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A Redis server could not be reached or did not do what was asked.
    Redis {
        /// The server, as `HOST:PORT`.
        server: String,
        /// What happened, and what to do.
        problem: String,
    },
}

impl Error {
    /// The case of the WIT `error` variant this error becomes, with the message for `other`.
    pub fn into_case(self) -> ErrorCase {
        match self {
            Error::NoSuchStore => ErrorCase::NoSuchStore,
            Error::AccessDenied | Error::BucketNotAllowed { .. } | Error::ReadOnly => {
                ErrorCase::AccessDenied
            }
            Error::Injected(message) => ErrorCase::Other(message),
            other => ErrorCase::Other(other.to_string()),
        }
    }

    /// The name of the WIT `error` case this error becomes.
    pub fn case_name(&self) -> &'static str {
        match self {
            Error::NoSuchStore => ErrorCase::NoSuchStore.name(),
            Error::AccessDenied | Error::BucketNotAllowed { .. } | Error::ReadOnly => {
                ErrorCase::AccessDenied.name()
            }
            _ => ErrorCase::OTHER,
        }
    }
}

/// An injected fault: the error it makes the operation return.
impl From<ErrorCase> for Error {
    fn from(case: ErrorCase) -> Self {
        match case {
            ErrorCase::NoSuchStore => Error::NoSuchStore,
            ErrorCase::AccessDenied => Error::AccessDenied,
            ErrorCase::Other(message) => Error::Injected(message),
        }
    }
}

impl core::error::Error for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSuchStore => f.write_str("no such bucket"),
            Error::AccessDenied => f.write_str("access denied"),
            Error::MalformedCursor => f.write_str(
                "malformed cursor: pass `none` to start listing, then only cursors returned by \
                 `list-keys` on the same bucket",
            ),
            Error::ForeignCursor => f.write_str(
                "cursor belongs to another bucket: pass the cursor returned by `list-keys` on \
                 this bucket, or `none` to start over",
            ),
            Error::NotANumber { key, ty } => write!(
                f,
                "cannot increment key {}: its value is not a decimal {ty} in ASCII (such as \
                 `42`); set it to a number or delete it first",
                ShortKey(key)
            ),
            Error::Overflow {
                key,
                ty,
                current,
                delta,
            } => write!(
                f,
                "cannot increment key {} by {delta}: {current} + {delta} does not fit in {ty}; \
                 the value is unchanged",
                ShortKey(key)
            ),
            Error::BucketFull => f.write_str(
                "the bucket holds the most keys it can address (2^32 - 1); delete keys or use \
                 another bucket",
            ),
            Error::Config(message) | Error::Injected(message) => f.write_str(message),
            Error::BucketNotAllowed { bucket, allowed } if allowed.is_empty() => {
                write!(f, "bucket {} is denied (--deny-bucket)", ShortKey(bucket))
            }
            Error::BucketNotAllowed { bucket, allowed } => {
                write!(f, "bucket {} is not allowed; allowed:", ShortKey(bucket))?;
                for (i, name) in allowed.iter().enumerate() {
                    let sep = if i == 0 { " " } else { ", " };
                    write!(f, "{sep}{}", ShortKey(name))?;
                }
                Ok(())
            }
            Error::ReadOnly => f.write_str("the store is read-only (--read-only)"),
            Error::ControlReadOnly => f.write_str(
                "the fs store is read-only (--read-only): keyvalue-virt never writes to its \
                 directory, not even for the control interface; plug without --read-only to \
                 write to the store from a test, or fill the directory before the run with \
                 `keyvalue-virt import DIR`",
            ),
            Error::ValueTooLarge { key, len, max } => write!(
                f,
                "the value for key {} is {len} bytes, over the limit of {max} bytes \
                 (--max-value-size); store a smaller value",
                ShortKey(key)
            ),
            Error::TooManyKeys { bucket, max } => write!(
                f,
                "bucket {} is full: it holds the most keys allowed ({max}, --max-keys); delete \
                 keys before adding new ones",
                ShortKey(bucket)
            ),
            Error::BackendUnavailable(name) => write!(
                f,
                "this build of keyvalue-virt has no {name} backend; make the component with \
                 `keyvalue-virt build --backend {name}`, which ships it, or build this crate \
                 with `--features {name}`"
            ),
            Error::NoStoreDir => f.write_str(
                "the fs backend needs a store directory: build the component with `--backend fs \
                 --dir GUEST_DIR` and grant that directory to it",
            ),
            Error::StoreDir { dir, problem } => write!(f, "the store directory `{dir}` {problem}"),
            Error::FsIo {
                path,
                action,
                cause,
            } => write!(
                f,
                "failed to {action} `{path}`: {cause}; check the permissions and free space of \
                 the store directory"
            ),
            Error::Corrupt { path, problem } => write!(
                f,
                "the store file `{path}` is damaged: {problem}; run `keyvalue-virt repair DIR` \
                 on the store's host directory, which empties this file (its keys are lost) \
                 and keeps every other key; do not delete or restore the file alone"
            ),
            Error::Redis { server, problem } => write!(f, "redis server {server}: {problem}"),
        }
    }
}

/// Shows a key in a message: quoted and escaped, and cut short when it is long.
pub struct ShortKey<'a>(pub &'a str);

impl fmt::Display for ShortKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 64;
        if self.0.len() <= MAX {
            return write!(f, "{:?}", self.0);
        }
        let mut end = MAX;
        while !self.0.is_char_boundary(end) {
            end -= 1;
        }
        write!(f, "{:?}... ({} bytes)", &self.0[..end], self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_are_cut_on_a_char_boundary() {
        let key = "é".repeat(100);
        let shown = ShortKey(&key).to_string();
        assert!(shown.ends_with("... (200 bytes)"), "{shown}");
        assert_eq!(shown.matches('é').count(), 32);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(ShortKey("a\0b").to_string(), "\"a\\0b\"");
    }

    #[test]
    fn only_other_errors_carry_a_message() {
        assert_eq!(Error::NoSuchStore.into_case(), ErrorCase::NoSuchStore);
        assert_eq!(Error::ReadOnly.into_case(), ErrorCase::AccessDenied);
        match Error::MalformedCursor.into_case() {
            ErrorCase::Other(message) => assert!(message.contains("`none`"), "{message}"),
            case => panic!("a cursor error must be `other`, not {case}"),
        }
    }

    #[test]
    fn injected_faults_come_back_as_the_case_they_name() {
        for case in [
            ErrorCase::NoSuchStore,
            ErrorCase::AccessDenied,
            ErrorCase::Other("disk on fire".into()),
        ] {
            let error = Error::from(case.clone());
            assert_eq!(error.case_name(), case.name());
            assert_eq!(error.into_case(), case);
        }
    }
}
