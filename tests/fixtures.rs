//! Every fixture replays against the reference implementation: it passes, every rule it
//! names fires, and its transcript (one line per event) matches the committed snapshot.

use std::path::Path;
use wlcs::check::{Checker, Verdict};
use wlcs::fixture::Fixture;
use wlcs_sut::memory::MemorySut;

#[test]
fn every_fixture_passes_on_the_reference_with_its_transcript() {
    insta::glob!("../fixtures", "*.json", |path| {
        let fixture = Fixture::load(path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        assert_eq!(fixture.name, stem, "a fixture's name is its file stem");
        let sut = MemorySut::new();
        let run = Checker::run(&sut, &fixture.trace);
        assert_eq!(run.verdict, Verdict::Pass, "{}", run.transcript.join("\n"));
        assert!(run.steps_invalid.is_empty(), "{:?}", run.steps_invalid);
        for rule in &fixture.rules {
            assert!(
                run.stats.get(*rule).fired > 0,
                "{} never fires {rule}",
                fixture.name
            );
        }
        insta::assert_snapshot!(run.transcript.join("\n"));
    });
}

#[test]
fn fixtures_cover_every_rule() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let fixtures = Fixture::load_dir(&dir).expect("fixtures load");
    for rule in wlcs_model::RuleId::ALL {
        assert!(
            fixtures.iter().any(|f| f.rules.contains(rule)),
            "no fixture names {rule}"
        );
    }
}

#[test]
fn malformed_fixtures_are_clear_errors() {
    let cases = [
        ("{", "EOF while parsing"),
        (
            r#"{"format":2,"name":"x","rules":["CLOSE-1"],"trace":{"steps":[{"Advance":{"seconds":1}}]}}"#,
            "format 2 is not supported",
        ),
        (
            r#"{"format":1,"name":"x","rules":[],"trace":{"steps":[{"Advance":{"seconds":1}}]}}"#,
            "at least one rule",
        ),
        (
            r#"{"format":1,"name":"x","rules":["CLOSE-99"],"trace":{"steps":[]}}"#,
            "unknown variant",
        ),
        (
            r#"{"format":1,"name":"x","rules":["CLOSE-1"],"trace":{"steps":[]}}"#,
            "no steps",
        ),
        (
            r#"{"format":1,"name":"x","rules":["CLOSE-1"],"trace":{"steps":[{"Jump":{}}]}}"#,
            "unknown variant",
        ),
        (
            r#"{"format":1,"name":"x","rules":["CLOSE-1"],"extra":1,"trace":{"steps":[]}}"#,
            "unknown field",
        ),
    ];
    for (text, needle) in cases {
        let err = Fixture::parse(text, Path::new("bad.json")).expect_err(text);
        let msg = err.to_string();
        assert!(msg.starts_with("bad.json: "), "{msg}");
        assert!(msg.contains(needle), "{msg} lacks {needle:?}");
    }
}
