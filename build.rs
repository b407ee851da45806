//! Embeds the built-in fixtures (`fixtures/*.json`) in the binary, so that an installed
//! `wlcs` runs from any directory: writes `builtin_fixtures.rs` (a sorted list of
//! `(file name, include_str!(...))`) into OUT_DIR. Adding, removing or editing a fixture
//! reruns this script.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dir = manifest.join("fixtures");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
            .collect(),
        Err(e) => panic!("build.rs: cannot read {}: {e}", dir.display()),
    };
    files.sort();
    let mut out = String::from(
        "/// The built-in fixtures: (file name, JSON text), sorted by file name.\n\
         pub const FILES: &[(&str, &str)] = &[\n",
    );
    for path in &files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let _ = writeln!(
            out,
            "    ({:?}, include_str!({:?})),",
            name.unwrap_or_default(),
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out_dir.join("builtin_fixtures.rs"), out) {
        panic!("build.rs: cannot write builtin_fixtures.rs: {e}");
    }
}
