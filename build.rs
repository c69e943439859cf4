//! Link settings of the component.

fn main() {
    // rustc's linker for wasm32-wasip2 (`wasm-component-ld`) merges imports whose versions are
    // semver-compatible with the WASI world it carries for wasi-libc, which raises our `@0.2.0`
    // imports to that world's newer version. The component declares the lowest version that has
    // each call (`wit/world.wit`), so that any 0.2 runtime runs it: keep them as declared.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-cdylib=--merge-imports-based-on-semver=false");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
