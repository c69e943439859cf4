//! Helpers shared by the tests that run the real `keyvalue-virt` binary.

use assert_cmd::Command;
use tempfile::TempDir;

/// The `keyvalue-virt` binary of this build, ready for arguments.
pub fn kv() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keyvalue-virt"))
}

/// A scratch directory, removed when dropped.
pub fn scratch() -> TempDir {
    tempfile::tempdir().expect("failed to create a temporary directory")
}
