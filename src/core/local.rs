//! Instance-wide state without std: [`local!`] declares a `thread_local!` natively (the CLI
//! and the tests run the core on many threads) and, in the component, a plain static of
//! [`Local`], whose accessors are the same calls.

#[cfg(target_arch = "wasm32")]
use core::cell::{Cell, RefCell};

/// Declares statics like `std::thread_local!` with a `const` initializer: `local! { static
/// NAME: TYPE = EXPR; }`, used through `NAME.with(..)`, `.get()`, `.set(..)` and
/// `.with_borrow_mut(..)`.
#[cfg(not(target_arch = "wasm32"))]
macro_rules! local {
    ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
        std::thread_local! {
            $(#[$attr])* static $name: $ty = const { $init };
        }
    };
}

/// Declares statics like `std::thread_local!` with a `const` initializer: `local! { static
/// NAME: TYPE = EXPR; }`, used through `NAME.with(..)`, `.get()`, `.set(..)` and
/// `.with_borrow_mut(..)`.
#[cfg(target_arch = "wasm32")]
macro_rules! local {
    ($(#[$attr:meta])* static $name:ident: $ty:ty = $init:expr;) => {
        $(#[$attr])* static $name: $crate::local::Local<$ty> = $crate::local::Local::new($init);
    };
}

pub(crate) use local;

// A component instance runs on one thread and never shares its memory: a plain static holds
// state per instance, as a thread-local would. A build with threads must not compile.
#[cfg(all(target_arch = "wasm32", target_feature = "atomics"))]
compile_error!("keyvalue-virt-core keeps per-instance state in statics: build without threads");

/// A value that an instance's one thread owns (see [`local!`]).
#[cfg(target_arch = "wasm32")]
pub struct Local<T>(T);

// SAFETY: without the `atomics` target feature (refused above) a wasm32 module has one thread,
// so no value is ever reached from two threads.
#[cfg(target_arch = "wasm32")]
unsafe impl<T> Sync for Local<T> {}

#[cfg(target_arch = "wasm32")]
impl<T> Local<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Local<T> {
        Local(value)
    }

    /// Runs `f` on the value, like `LocalKey::with`.
    // The accessors mirror `LocalKey`'s; not every build calls each.
    #[allow(dead_code)]
    pub fn with<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0)
    }
}

#[cfg(target_arch = "wasm32")]
impl<T> core::ops::Deref for Local<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

#[cfg(target_arch = "wasm32")]
impl<T: Copy> Local<Cell<T>> {
    /// The value, like `LocalKey::get`.
    pub fn get(&'static self) -> T {
        self.0.get()
    }

    /// Replaces the value, like `LocalKey::set`.
    pub fn set(&'static self, value: T) {
        self.0.set(value)
    }
}

#[cfg(target_arch = "wasm32")]
impl<T> Local<RefCell<T>> {
    /// Runs `f` on the value borrowed mutably, like `LocalKey::with_borrow_mut`.
    pub fn with_borrow_mut<R>(&'static self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }

    /// Runs `f` on the value borrowed, like `LocalKey::with_borrow`.
    #[cfg_attr(not(feature = "fs"), allow(dead_code))]
    pub fn with_borrow<R>(&'static self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.0.borrow())
    }
}
