//! `repair DIR`: mends the damaged slots of an fs-backend store directory with the
//! component's own code ([`Fs::repair`]): each is replaced by an empty record past every
//! generation it ever had, so that no leftover of it can match again, and dead leftovers are
//! removed. The damaged files' keys are lost; every other key is kept.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use keyvalue_virt_core::backend::fs::Fs;
use keyvalue_virt_core::backend::fs::repair::Repair;

/// The help of `repair` after its options.
pub const REPAIR_EXAMPLES: &str = "\
DIR is the host directory behind the component's --dir. Use it when an operation fails with \
\"the store file ... is damaged\": deleting the file by hand, or restoring it alone from a \
backup, lets old leftovers match again (a key that fails for good, an old value brought back, \
a compare-and-swap that succeeds when it must fail). Running instances may stay up.

Examples:
  keyvalue-virt repair ./data";

/// `repair DIR`.
#[derive(Args, Debug)]
pub struct RepairArgs {
    /// The store directory
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// Runs `repair`.
pub fn repair(args: RepairArgs) -> Result<()> {
    if !args.dir.join("FORMAT").exists() {
        bail!(
            "`{}` is not a keyvalue-virt store (it has no `FORMAT` file): give the directory of \
             a store written by the fs backend",
            args.dir.display()
        );
    }
    let report = Fs::new(&args.dir, true, true)
        .repair()
        .with_context(|| format!("failed to repair the store in `{}`", args.dir.display()))?;
    print!("{}", text(&report));
    Ok(())
}

/// What `repair` prints.
pub fn text(report: &Repair) -> String {
    let mut out = String::new();
    for problem in &report.slots {
        let _ = writeln!(out, "emptied (its keys are lost): {problem}");
    }
    for problem in &report.unmended {
        let _ = writeln!(out, "not mended: {problem}");
    }
    let _ = writeln!(
        out,
        "repaired {} damaged slot{}, removed {} dead leftover{}",
        report.slots.len(),
        if report.slots.len() == 1 { "" } else { "s" },
        report.leftovers,
        if report.leftovers == 1 { "" } else { "s" },
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_slot_is_emptied_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        let fs = Fs::new(&store, true, true);
        let b = keyvalue_virt_core::backend::Backend::open(&fs, "b").unwrap();
        use keyvalue_virt_core::backend::BucketOps;
        b.set("k".into(), b"v".to_vec()).unwrap();
        b.set("l".into(), b"w".to_vec()).unwrap();
        let bucket = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap();
        let shard = std::fs::read_dir(&bucket)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap();
        let slot = std::fs::read_dir(&shard).unwrap().next().unwrap().unwrap();
        std::fs::write(slot.path().join("r"), "damaged").unwrap();
        repair(RepairArgs { dir: store.clone() }).unwrap();
        let report = fs.repair().unwrap();
        assert_eq!(
            text(&report),
            "repaired 0 damaged slots, removed 0 dead leftovers\n"
        );
        let kept = ["k", "l"]
            .iter()
            .filter(|key| b.get(key).unwrap().is_some())
            .count();
        assert_eq!(kept, 1);
        let error = repair(RepairArgs {
            dir: dir.path().to_owned(),
        })
        .unwrap_err();
        assert!(
            error.to_string().contains("not a keyvalue-virt store"),
            "{error}"
        );
    }
}
