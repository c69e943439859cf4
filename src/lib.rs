//! keyvalue-virt: `wasi:keyvalue` implemented inside a WebAssembly component.
//!
//! The component exports `store`, `atomics` and `batch` of both published drafts,
//! `wasi:keyvalue@0.2.0-draft` and `wasi:keyvalue@0.2.0-draft2`. Plugged into an application
//! (`wac plug app.wasm --plug keyvalue_virt.wasm -o out.wasm`), it serves the application's
//! key-value imports from state kept inside the composed component, so the result runs on any
//! WASI Preview 2 runtime without key-value support from the host.
//!
//! This crate is only the boundary: the bindings, and one module per draft that converts the
//! draft's types to and from those of the storage core, `keyvalue-virt-core` (`src/core/`),
//! which holds every behaviour.

//!
//! The component is built without std (`alloc` only; `src/rt.rs` holds what std would provide), so
//! that it imports nothing but the WASI interfaces the core calls, at 0.2.0: std and wasi-libc
//! would add a dozen, at the toolchain's newer version.

#![cfg_attr(target_arch = "wasm32", no_std)]
#![deny(missing_docs)]

// `macro_use` puts `vec!` in scope in every module, as std's prelude would; cargo-mutants'
// replacements (`Ok(Some(vec![]))`) then build, and `.ci/mutants` measures the suite on them.
#[cfg(target_arch = "wasm32")]
#[allow(unused_imports)]
#[macro_use]
extern crate alloc;

// The exports exist only in the component: natively this crate is empty (export names holding
// `:` and `/` would break a native cdylib's version script).
#[cfg(all(target_arch = "wasm32", feature = "control"))]
mod control;
#[cfg(target_arch = "wasm32")]
mod draft;
#[cfg(target_arch = "wasm32")]
mod draft2;
#[cfg(target_arch = "wasm32")]
pub mod rt;

/// The generated bindings of the `keyvalue-virt` world (`keyvalue-virt-control` with the
/// `control` feature, which adds the control interface): with draft2 as tagged, or, with the
/// `draft2-spin` feature, as Spin ships it, the shape of upstream's open (unmerged) PR #55
/// (`wit/draft2-spin`, which differs only in `batch.get-many`). Upstream's main branch has the
/// tagged shape.
#[cfg(target_arch = "wasm32")]
mod bindings {
    #[cfg(all(not(feature = "draft2-spin"), not(feature = "control")))]
    wit_bindgen::generate!({
        path: "wit",
        world: "keyvalue-virt",
    });
    #[cfg(all(feature = "draft2-spin", not(feature = "control")))]
    wit_bindgen::generate!({
        path: "wit/draft2-spin",
        world: "keyvalue-virt",
    });
    #[cfg(all(not(feature = "draft2-spin"), feature = "control"))]
    wit_bindgen::generate!({
        path: "wit",
        world: "keyvalue-virt-control",
    });
    #[cfg(all(feature = "draft2-spin", feature = "control"))]
    wit_bindgen::generate!({
        path: "wit/draft2-spin",
        world: "keyvalue-virt-control",
    });

    use super::Component;
    export!(Component);
}

/// The type on which every exported interface is implemented.
#[cfg(target_arch = "wasm32")]
pub struct Component;
