//! The house rules that the compiler does not check, checked on the source tree (issue 10):
//! the model is pure; no crate an implementation is built from calls the model; only the
//! fixture loader and the CLI touch the filesystem; every rule ID SPEC.md defines is named by
//! the model, a test, a fixture and a mutant; and a vendor crate implementing the trait builds
//! with the trait crate alone (`cargo tree` has no tokio, hyper or axum).
//!
//! Each check reports every offence it finds with its file and line, so a failure says what to
//! fix, not only that something is wrong.

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use wlcs_model::rules::RuleId;
use wlcs_sut::mutants::Mutant;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir` (relative to the workspace root), sorted.
fn rust_files(dir: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root().join(dir), &mut out);
    out.sort();
    assert!(
        !out.is_empty(),
        "no Rust files under {dir}: the tidy test looks in the wrong place"
    );
    out
}

/// The code of a line: what is left once a `//` comment is cut off (string contents are kept;
/// none of the patterns below is a plausible string).
fn code(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// True when `hay` contains `word` not followed or preceded by an identifier character.
fn has_token(hay: &str, word: &str) -> bool {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    hay.match_indices(word).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// `file:line: text` for every code line of `files` containing one of `tokens`, skipping
/// `#[cfg(test)]` modules (everything after the line that opens one).
fn offences(files: &[PathBuf], tokens: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).expect("read source");
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = code(line);
            for token in tokens {
                if has_token(code, token) {
                    let rel = path.strip_prefix(root()).unwrap_or(path);
                    found.push(format!(
                        "{}:{}: `{token}` in {}",
                        rel.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn the_model_has_no_io_clock_threads_randomness_or_hash_order() {
    let forbidden = [
        "std::fs",
        "std::io",
        "std::net",
        "std::thread",
        "std::time",
        "std::env",
        "std::process",
        "HashMap",
        "HashSet",
        "Instant",
        "SystemTime",
        "Mutex",
        "RwLock",
        "thread_local",
        "println",
        "eprintln",
        "print",
        "eprint",
        "dbg",
        "rand",
        "static mut",
    ];
    let found = offences(&rust_files("model/src"), &forbidden);
    assert!(
        found.is_empty(),
        "the model must stay pure:\n{}",
        found.join("\n")
    );

    let manifest = std::fs::read_to_string(root().join("model/Cargo.toml")).expect("manifest");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .map(|rest| rest.split("\n[").next().unwrap_or(""))
        .unwrap_or("");
    let names: Vec<&str> = deps
        .lines()
        .filter_map(|l| l.split(['=', '.']).next().map(str::trim))
        .filter(|n| !n.is_empty() && !n.starts_with('#'))
        .collect();
    assert_eq!(names, ["serde"], "the model depends on serde alone");
}

#[test]
fn no_implementation_crate_consults_the_model() {
    let mut files = rust_files("plugin/src");
    files.extend(rust_files("sut/src"));
    files.extend(rust_files("http/src"));
    files.extend(rust_files("vendor-starter/src"));
    let found = offences(&files, &["Model", "wlcs_model::world", "world::"]);
    assert!(
        found.is_empty(),
        "an implementation that consults the model makes the differential check a tautology:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_fixture_loader_and_the_cli_touch_the_filesystem() {
    // Each allowed file, with the reason it may.
    let allowed: BTreeMap<&str, &str> = [
        ("src/fixture.rs", "the fixture loader"),
        (
            "src/gate.rs",
            "bounded reads of fixtures and checks of output paths for the CLI",
        ),
        ("src/cli_reports.rs", "the CLI's report writer"),
        ("src/main.rs", "the CLI"),
        (
            "src/fuzz.rs",
            "the fuzz loops' committed corpus, read by the fuzz example and test",
        ),
    ]
    .into_iter()
    .collect();
    let tokens = ["std::fs", "fs::", "File::", "OpenOptions", "read_dir"];
    let harness: Vec<PathBuf> = rust_files("src")
        .into_iter()
        .filter(|p| {
            let rel = p
                .strip_prefix(root())
                .unwrap_or(p)
                .to_string_lossy()
                .replace('\\', "/");
            !allowed.contains_key(rel.as_str())
        })
        .collect();
    let mut found = offences(&harness, &tokens);
    for krate in [
        "model/src",
        "plugin/src",
        "sut/src",
        "http/src",
        "vendor-starter/src",
    ] {
        found.extend(offences(&rust_files(krate), &tokens));
    }
    assert!(
        found.is_empty(),
        "filesystem access outside the fixture loader and the CLI ({allowed:?}):\n{}",
        found.join("\n")
    );
}

/// The rule IDs SPEC.md defines: lines starting `- **ID**`.
fn spec_rule_ids() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("SPEC.md")).expect("SPEC.md");
    text.lines()
        .filter_map(|l| l.strip_prefix("- **"))
        .filter_map(|l| l.split("**").next())
        .filter(|id| id.contains('-') && id.chars().last().is_some_and(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_spec_rule_is_named_by_the_model_a_test_a_fixture_and_a_mutant() {
    let ids = spec_rule_ids();
    assert_eq!(
        ids.len(),
        RuleId::ALL.len(),
        "SPEC.md and the catalogue list the same rules"
    );

    // The model: a branch comment naming the rule outside the catalogue itself.
    let model_text: String = rust_files("model/src")
        .iter()
        .filter(|p| !p.ends_with("rules.rs"))
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();
    // A test: a test function named after the rule (`fn close_6_...`).
    let mut test_files = rust_files("tests");
    for dir in ["model/tests", "sut/tests", "http/tests"] {
        test_files.extend(rust_files(dir));
    }
    let test_text: String = test_files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();
    // A fixture: its `rules` list names the rule.
    let fixtures = wlcs::builtin::fixtures().expect("the built-in fixtures load");
    let fixture_rules: BTreeSet<String> = fixtures
        .iter()
        .flat_map(|f| f.rules.iter().map(|r| r.to_string()))
        .collect();
    // A mutant: one declares it breaks the rule.
    let mutant_rules: BTreeSet<String> =
        Mutant::ALL.iter().map(|m| m.breaks().to_string()).collect();

    let mut missing = Vec::new();
    for id in &ids {
        if !has_token(&model_text, id) {
            missing.push(format!("{id}: no branch of the model names it"));
        }
        let test_fn = format!("fn {}_", id.to_lowercase().replace('-', "_"));
        if !test_text.contains(&test_fn) {
            missing.push(format!("{id}: no test function `{test_fn}...`"));
        }
        if !fixture_rules.contains(id) {
            missing.push(format!("{id}: no fixture lists it"));
        }
        if !mutant_rules.contains(id) {
            missing.push(format!("{id}: no mutant breaks it"));
        }
    }
    assert!(
        missing.is_empty(),
        "rules not covered four ways:\n{}",
        missing.join("\n")
    );
}

#[test]
fn a_vendor_crate_builds_on_the_trait_crate_alone() {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args([
            "tree",
            "-p",
            "wlcs-vendor-starter",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}", "--offline"])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        crates.contains("wlcs-plugin"),
        "the starter depends on the trait crate: {crates:?}"
    );
    for heavy in [
        "tokio",
        "hyper",
        "axum",
        "tower",
        "wlcs-sut",
        "wlcs-http",
        "wlcs",
    ] {
        assert!(
            !crates.contains(heavy),
            "`{heavy}` is in a vendor crate's build: {crates:?}"
        );
    }
    // Beyond the trait and the model, serde's closure only (its derive's proc-macro stack).
    let allowed = [
        "wlcs-vendor-starter",
        "wlcs-plugin",
        "wlcs-model",
        "serde",
        "serde_core",
        "serde_derive",
        "proc-macro2",
        "quote",
        "syn",
        "unicode-ident",
    ];
    let extra: Vec<&&str> = crates.iter().filter(|c| !allowed.contains(c)).collect();
    assert!(
        extra.is_empty(),
        "crates beyond the trait crate and serde: {extra:?}"
    );
}

/// The longest a function may be, from its `fn` line to its closing brace (issue 10: "rooms
/// with one job"): longer ones are split into named steps.
const FN_LINES_MAX: usize = 70;

/// Functions allowed to be longer, each with its reason: `(file, fn name, why)`.
const FN_LINES_ALLOWED: &[(&str, &str, &str)] = &[];

/// `source` with comments, string literals and character literals blanked to spaces (line
/// breaks kept), so braces can be counted: `"{"`, `'}'` and `// }` are not braces.
fn blank_literals(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0usize;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && raw_prefix(&chars, i) {
            // A raw string: r"..." or r#"..."# (br too); anything else starting with r# is an
            // identifier.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let closing: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let rest: String = chars[j + 1..].iter().collect();
            let len = rest
                .find(&closing)
                .map_or(rest.chars().count(), |at| rest[..at].chars().count());
            let end = (j + 1 + len + closing.chars().count()).min(chars.len());
            out.extend(chars[i..end].iter().map(|&c| blank(c)));
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A character literal ('{', '\'', '\u{7b}'), not a lifetime ('a).
            let close = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&k| chars[k] == '\'')
            } else {
                (chars.get(i + 2) == Some(&'\'')).then_some(i + 2)
            };
            match close {
                Some(end) => {
                    out.extend(std::iter::repeat_n(' ', end + 1 - i));
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether the `r` at `i` starts a raw string: nothing of an identifier before it, or a lone
/// `b` (a raw byte string, `br"..."`).
fn raw_prefix(chars: &[char], i: usize) -> bool {
    let ident = |k: usize| chars[k].is_ascii_alphanumeric() || chars[k] == '_';
    match i {
        0 => true,
        _ if !ident(i - 1) => true,
        1 => chars[0] == 'b',
        _ => chars[i - 1] == 'b' && !ident(i - 2),
    }
}

/// `(name, first line, lines)` of every function with a body in `source`, skipping
/// `#[cfg(test)]` modules (everything from the line that opens one).
fn function_lengths(source: &str) -> Vec<(String, usize, usize)> {
    let code = blank_literals(source);
    let lines: Vec<&str> = code.lines().collect();
    let end = source
        .lines()
        .position(|l| l.trim_start().starts_with("#[cfg(test)]"))
        .unwrap_or(lines.len());
    let mut found = Vec::new();
    for start in 0..end {
        let Some(at) = lines[start]
            .find("fn ")
            .filter(|&at| at == 0 || !lines[start].as_bytes()[at - 1].is_ascii_alphanumeric())
        else {
            continue;
        };
        let name: String = lines[start][at + 3..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        // The body opens at the first `{` before any `;` (a declaration has no body).
        let mut depth = 0usize;
        let mut opened = false;
        'scan: for (k, line) in lines.iter().enumerate().skip(start) {
            let from = if k == start { at } else { 0 };
            for c in line[from..].chars() {
                match c {
                    ';' if !opened => break 'scan,
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' if opened => {
                        depth -= 1;
                        if depth == 0 {
                            found.push((name.clone(), start + 1, k - start + 1));
                            break 'scan;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    found
}

#[test]
fn the_brace_counter_sees_through_literals_and_comments() {
    let source = "fn a() {\n    let s = \"}\"; let c = '}'; // }\n    let r = r#\"}\"#; let b = br#\"\"}\"#;\n    /* } */ let l: &'static str = \"\\\"}\";\n}\nfn b<'x>(v: &'x u8) -> u8 { *v }\nfn c();\n";
    assert_eq!(
        function_lengths(source),
        vec![("a".to_string(), 1, 5), ("b".to_string(), 6, 1)]
    );
}

#[test]
fn no_function_is_longer_than_70_lines() {
    let mut files = Vec::new();
    for dir in [
        "src",
        "model/src",
        "plugin/src",
        "sut/src",
        "http/src",
        "vendor-starter/src",
        "benches",
        "examples",
    ] {
        files.extend(rust_files(dir));
    }
    let mut long = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(root())
            .unwrap_or(path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(path).expect("read source");
        for (name, line, lines) in function_lengths(&text) {
            let allowed = FN_LINES_ALLOWED
                .iter()
                .any(|(f, n, _)| *f == rel && *n == name);
            if lines > FN_LINES_MAX && !allowed {
                long.push(format!("{rel}:{line}: fn {name} is {lines} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {FN_LINES_MAX} lines (split them into named steps, or allow one in \
         FN_LINES_ALLOWED with its reason):\n{}",
        long.join("\n")
    );
}
