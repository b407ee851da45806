//! The built-in fixtures, embedded in the binary at build time (see `build.rs`), so that
//! `wlcs run` works from any directory and after `cargo install`. `--fixtures DIR` adds the
//! directory's fixtures to them, a fixture of the same name replacing the built-in one.

use crate::fixture::{Fixture, FixtureError};
use std::collections::BTreeMap;
use std::path::Path;

mod files {
    include!(concat!(env!("OUT_DIR"), "/builtin_fixtures.rs"));
}

/// The built-in fixtures as `(file name, JSON text)`, sorted by file name.
pub fn files() -> &'static [(&'static str, &'static str)] {
    files::FILES
}

/// The built-in fixtures, parsed, in file-name order.
pub fn fixtures() -> Result<Vec<Fixture>, FixtureError> {
    files::FILES
        .iter()
        .map(|(name, text)| Fixture::parse(text, Path::new(&format!("builtin:{name}"))))
        .collect()
}

/// The built-in fixtures with those of `dir` added (a fixture of `dir` replaces a built-in one
/// of the same name), in name order.
pub fn with_dir(dir: Option<&Path>) -> Result<Vec<Fixture>, FixtureError> {
    let mut by_name: BTreeMap<String, Fixture> = fixtures()?
        .into_iter()
        .map(|f| (f.name.clone(), f))
        .collect();
    if let Some(dir) = dir {
        for f in Fixture::load_dir(dir)? {
            by_name.insert(f.name.clone(), f);
        }
    }
    Ok(by_name.into_values().collect())
}
