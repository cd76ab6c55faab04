//! `bridge-e2e`: end-to-end tests of the bridge across the whole local stack.
//!
//! The tests live beside this file; `fixtures/` holds recorded inbound SMS events as JSON
//! Lines, each file with the outcomes a replay must produce (`*.expected.json`). This
//! library only locates the fixtures, so every test reads the same files.

use std::path::PathBuf;

/// The directory holding the recorded SMS fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}
