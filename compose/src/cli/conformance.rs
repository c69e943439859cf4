//! `conformance`: writes the conformance suite, a `wasi:cli` command that checks whatever
//! implements the `wasi:keyvalue` it imports (a host, or a component plugged into it).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use keyvalue_virt_compose::Draft;

/// The help of `conformance` after its options.
pub const CONFORMANCE_EXAMPLES: &str = "\
The suite prints one line per check (`ok NAME`, `FAIL NAME: what happened`, `skip NAME: why`),
then `N passed, M failed, K skipped`, and exits with status 1 if a check failed. Its own options,
after the component on the command line:
  --list              print the names of the checks
  --only NAME         run one check, or an area (`store`, `keys`, `values`, `list`, `increment`,
                      `batch`, `cas`, `errors`); `PREFIX*` matches a prefix; repeatable
  --bucket ID         the one bucket identifier the host allows (checks needing several skip)
  --no-persistence    another open of an identifier does not see data written through the first
                      (checks that reopen a bucket skip)

Examples:
  # On a host that implements wasi:keyvalue: wasmtime's store serves draft and bucket \"\" only,
  # and gives each open a fresh copy
  keyvalue-virt conformance --draft draft -o conformance.wasm
  wasmtime run -S keyvalue conformance.wasm --bucket '' --no-persistence

  # Plugged with keyvalue-virt (any exporter of wasi:keyvalue plugs it the same way)
  keyvalue-virt conformance -o conformance.wasm
  keyvalue-virt plug conformance.wasm -o plugged.wasm
  wasmtime run plugged.wasm

  # Plugged with another component, with wac
  wac plug conformance.wasm --plug other-kv.wasm -o plugged.wasm
  wasmtime run plugged.wasm --only cas";

/// `conformance [--draft DRAFT] -o OUT`.
#[derive(Args, Debug)]
pub struct ConformanceArgs {
    /// The wasi:keyvalue the suite imports: `draft` (0.2.0-draft), `draft2` (0.2.0-draft2 as
    /// tagged, as upstream's main branch has it) or `draft2-spin` (draft2 as Spin ships it,
    /// upstream's open PR #55: `get-many` returns each key with an optional value); the names of
    /// `build --shape`
    #[arg(long, value_name = "DRAFT", default_value = "draft2", value_parser = parse_draft)]
    pub draft: Draft,

    /// Where to write the component
    #[arg(short, long, value_name = "OUT.wasm")]
    pub output: PathBuf,
}

/// Runs `conformance`.
pub fn conformance(args: ConformanceArgs) -> Result<()> {
    let path = args.output.display();
    std::fs::write(&args.output, args.draft.conformance())
        .with_context(|| format!("failed to write `{path}`"))?;
    eprintln!(
        "wrote `{path}`: the conformance suite, importing wasi:keyvalue@{}; run it with \
         `wasmtime run -S keyvalue {path}` (draft only), or plug it first (`keyvalue-virt plug \
         {path} -o plugged.wasm`)",
        version(args.draft)
    );
    Ok(())
}

/// The version (and shape) of `wasi:keyvalue` `draft` imports, for messages.
fn version(draft: Draft) -> &'static str {
    match draft {
        Draft::Draft => "0.2.0-draft",
        Draft::Draft2 => "0.2.0-draft2 (as tagged)",
        Draft::Draft2Spin => "0.2.0-draft2 (as Spin ships it, upstream's open PR #55)",
    }
}

/// Parses `--draft`.
fn parse_draft(name: &str) -> Result<Draft, String> {
    Draft::from_name(name).ok_or_else(|| {
        let names: Vec<String> = Draft::ALL
            .iter()
            .map(|draft| format!("`{}`", draft.name()))
            .collect();
        format!("DRAFT must be {}, not `{name}`", names.join(", "))
    })
}
