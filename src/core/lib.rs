//! The storage core of keyvalue-virt: what the component does, apart from speaking WIT.
//!
//! The component (the root package) converts each draft's types to and from this crate's and
//! calls [`bucket::open`] and the methods of [`bucket::Bucket`]; the `keyvalue-virt` CLI uses
//! [`config`] to bake configurations and the fs backend natively for its store tools.
//!
//! Layers, each using only those below it:
//! - [`bucket`]: the semantics both drafts share (opening, paging, counters, compare-and-swap);
//! - [`policy`]: the baked configuration applied around every operation (faults, allow and
//!   deny lists, limits, trace), read from the component's data by `baked`;
//! - [`backend`]: where the data lives, behind the [`backend::BucketOps`] trait;
//! - [`config`], [`cursor`] and [`error`]: the formats and types the layers share;
//! - `control` (feature `control`): the call log, faults added at run time and direct access
//!   to the data, behind the control interface.

//!
//! In the component the crate runs without std (`alloc` only), so that the component imports
//! no WASI interface it does not call: std and wasi-libc would bring in a dozen. Its WASI calls
//! are made through bindings of its own (`wasi.rs`). Natively it links std, for the CLI's store
//! tools and the tests.

#![no_std]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

pub mod backend;
mod baked;
pub mod bucket;
pub mod config;
#[cfg(feature = "control")]
pub mod control;
pub mod cursor;
pub mod error;
// The JSON trace is a test double's tool: only the control builds carry it (plug picks one for
// `--trace=json`), so the shipped builds keep their size. Elsewhere `json` traces as text.
#[cfg(feature = "control")]
mod json;
mod local;
mod policy;
mod prelude;
mod wasi;

pub use bucket::{Bucket, Cas, open};
pub use cursor::Cursor;
pub use error::Error;
