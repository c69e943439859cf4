//! Damage stays local: a slot whose file is damaged costs only its own keys. `get` and the
//! writes of those keys report it; `list-keys` and the count behind `--max-keys` skip it, warn
//! once per instance on standard error, and remember it for the host tools ([`damaged`]), so
//! that every other key keeps working.

use core::cell::RefCell;

use crate::error::Error;
use crate::local::local;
use crate::prelude::*;

local! {
    // What the walks of this instance (or thread, natively) found damaged, in order.
    static DAMAGED: RefCell<Vec<String>> = RefCell::new(Vec::new());
}

/// `result`, or `None` when it is a damaged file, which is recorded and reported once.
pub fn skip<T>(result: Result<T, Error>) -> Result<Option<T>, Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error @ Error::Corrupt { .. }) => {
            let message = error.to_string();
            let new = DAMAGED.with_borrow_mut(|damaged| {
                let new = !damaged.contains(&message);
                if new {
                    damaged.push(message.clone());
                }
                new
            });
            if new {
                let line = format!(
                    "keyvalue-virt: warning: {message}; list-keys and --max-keys skip it\n"
                );
                crate::wasi::write_stderr(line.as_bytes());
            }
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// The damaged files that walks and counts of this thread have skipped so far, each as its
/// error message (the file, what is wrong, and the fix).
pub fn damaged() -> Vec<String> {
    DAMAGED.with_borrow(Clone::clone)
}
