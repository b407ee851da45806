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

/// A minimal fixture with one field misspelled at some level of the format.
fn with_typo(typo: &str) -> String {
    let request = match typo {
        "cookei" => r#"{"cookei":{"Session":0},"actions":[]}"#,
        "ipp" => r#"{"ipp":1,"actions":[]}"#,
        "mobil" => r#"{"mobil":1,"actions":[]}"#,
        _ => r#"{"actions":[{"SetVar":{"var":1,"vlaue":2}}]}"#,
    };
    let step = if typo == "proces" {
        r#"{"NonWeb":{"proces":1,"actions":[]}}"#.to_string()
    } else {
        format!(r#"{{"Request":{request}}}"#)
    };
    let config = if typo == "confg" { "confg" } else { "config" };
    format!(
        r#"{{"format":1,"name":"x","rules":["REQ-1"],"trace":{{"{config}":{{}},"steps":[{step}]}}}}"#
    )
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    for typo in ["confg", "cookei", "ipp", "mobil", "proces", "vlaue"] {
        let text = with_typo(typo);
        let err = Fixture::parse(&text, Path::new("typo.json")).expect_err(&text);
        let msg = err.to_string();
        assert!(msg.contains("unknown field") && msg.contains(typo), "{msg}");
    }
    let ok = with_typo("none");
    assert!(Fixture::parse(&ok.replace("vlaue", "value"), Path::new("ok.json")).is_ok());
}

#[test]
fn a_name_other_than_the_stem_or_a_request_left_in_flight_is_an_error() {
    let dir = std::env::temp_dir().join(format!("wlcs-fixture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("other-name.json");
    let text = r#"{"format":1,"name":"x","rules":["REQ-1"],"trace":{"steps":[{"Request":{}}]}}"#;
    std::fs::write(&path, text).expect("write");
    let msg = Fixture::load(&path).expect_err("name differs").to_string();
    assert!(msg.contains("file stem"), "{msg}");
    let text = r#"{"format":1,"name":"x","rules":["REQ-1"],"trace":{"steps":[{"Begin":{"slot":3,"request":{}}}]}}"#;
    let msg = Fixture::parse(text, Path::new("x.json"))
        .expect_err("in flight")
        .to_string();
    assert!(msg.contains("in flight in slot 3"), "{msg}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn every_hand_written_fixture_states_its_expectations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let fixtures =
        Fixture::load_dir(&dir).expect("fixtures load, every expectation met by the model");
    for f in fixtures.iter().filter(|f| f.origin.is_none()) {
        assert!(!f.expect.is_empty(), "{} states no expectation", f.name);
    }
}

#[test]
fn a_flipped_expectation_is_reported_as_a_model_fault() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/req-4-client-cookie-lifetime-slides.json");
    let text = std::fs::read_to_string(&path).expect("read");
    // The documentation's 34 800 s (6 000 s + 480 min) turned into the first cookie's 28 800 s.
    let flipped = text.replacen("34800", "28800", 1);
    assert_ne!(flipped, text);
    let msg = Fixture::parse(&flipped, &path)
        .expect_err("the model contradicts it")
        .to_string();
    assert!(
        msg.contains("MODEL FAULT at step 2 field `reads` (REQ-4)"),
        "{msg}"
    );
    assert!(
        msg.contains("fixture req-4-client-cookie-lifetime-slides"),
        "{msg}"
    );
    let flipped = text.replacen(r#""cookie": "Keep""#, r#""cookie": "Expire""#, 1);
    assert_ne!(flipped, text);
    let msg = Fixture::parse(&flipped, &path)
        .expect_err("cookie")
        .to_string();
    assert!(msg.contains("field `cookie`"), "{msg}");
}

/// HARNESS.md "Readings implementers get wrong": two requests on one legacy process at once
/// are never sent; a trace that asks for them has an invalid step, which the model names (and
/// the runner reports as a fixture error), so no server is judged on it.
#[test]
fn a_second_request_on_a_busy_process_is_not_a_valid_step() {
    let text = r#"{"format":1,"name":"x","rules":["REQ-2"],"trace":{"steps":[
        {"Request":{}},
        {"Begin":{"slot":0,"request":{"cookie":{"Session":0}}}},
        {"Begin":{"slot":1,"request":{"cookie":{"Session":0}}}},
        {"End":{"slot":0}}]}}"#;
    let fixture = Fixture::parse(text, Path::new("x.json")).expect("well-formed");
    let mut model = wlcs_model::Model::new(fixture.trace.config.clone());
    let invalid: Vec<Option<String>> = fixture
        .trace
        .steps
        .iter()
        .map(|s| model.step(s).invalid)
        .collect();
    assert_eq!(invalid[..2], [None, None]);
    let reason = invalid[2].as_deref().unwrap_or("valid");
    assert!(reason.contains("already running a request"), "{reason}");
    assert_eq!(invalid[3], None);
}
