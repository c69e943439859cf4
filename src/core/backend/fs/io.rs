//! The I/O error type of [`Files`](super::sys::Files): `std::io`'s natively, and in the
//! component (built without std) a stand-in with the part of its interface the backend uses.

#[cfg(not(target_arch = "wasm32"))]
pub use std::io::{Error, ErrorKind, Result};

#[cfg(target_arch = "wasm32")]
pub use self::shim::{Error, ErrorKind, Result};

#[cfg(target_arch = "wasm32")]
mod shim {
    use core::fmt;

    use crate::prelude::*;

    /// What kind of failure an [`Error`] is: the kinds of `std::io::ErrorKind` the backend
    /// tells apart or reports.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[allow(missing_docs)]
    pub enum ErrorKind {
        NotFound,
        AlreadyExists,
        PermissionDenied,
        NotADirectory,
        IsADirectory,
        DirectoryNotEmpty,
        StorageFull,
        OutOfMemory,
        FileTooLarge,
        Unsupported,
        Interrupted,
        InvalidInput,
        InvalidData,
        WriteZero,
        UnexpectedEof,
        Other,
    }

    /// A failed file operation: its kind and what the runtime said.
    #[derive(Debug)]
    pub struct Error {
        kind: ErrorKind,
        message: String,
    }

    /// The result of a file operation.
    pub type Result<T> = core::result::Result<T, Error>;

    impl Error {
        /// An error of `kind` described by `message`.
        pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
            Error {
                kind,
                message: message.into(),
            }
        }

        /// The kind of failure.
        pub fn kind(&self) -> ErrorKind {
            self.kind
        }
    }

    impl From<ErrorKind> for Error {
        fn from(kind: ErrorKind) -> Error {
            Error::new(kind, String::new())
        }
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            if self.message.is_empty() {
                write!(f, "{:?}", self.kind)
            } else {
                f.write_str(&self.message)
            }
        }
    }
}
