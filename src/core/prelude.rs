//! The `alloc` names that std's prelude would give: the component builds this crate without std
//! (see the crate's documentation), so every module that allocates imports these. Not every
//! build uses each.

#![allow(unused_imports)]

pub use alloc::borrow::ToOwned;
pub use alloc::format;
pub use alloc::string::{String, ToString};
pub use alloc::vec;
pub use alloc::vec::Vec;
