//! SPEC.md and the model agree on the rules: every rule ID SPEC.md defines exists in the
//! model's catalogue with the same grade, every catalogue rule is in SPEC.md, and the model's
//! step code names every rule it implements.

// A test: a failed unwrap or expect is a failed test, with its message (STYLE.md allows them here).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use wlcs_model::{Grade, RuleId};

/// Rule definitions in SPEC.md: lines starting `- **ID** GRADE (`; INV rules have no grade.
fn spec_rules() -> BTreeMap<String, Option<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../SPEC.md");
    let text = std::fs::read_to_string(path).expect("SPEC.md at the workspace root");
    let mut rules = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("- **") else {
            continue;
        };
        let Some((id, after)) = rest.split_once("**") else {
            continue;
        };
        let is_rule_id = id.split_once('-').is_some_and(|(area, n)| {
            !area.is_empty()
                && area.bytes().all(|b| b.is_ascii_uppercase())
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        });
        if !is_rule_id {
            continue;
        }
        let grade = after
            .split_whitespace()
            .next()
            .map(|g| g.trim_end_matches('.').to_string());
        let grade = grade.filter(|g| ["MUST", "SHOULD", "PROFILE"].contains(&g.as_str()));
        rules.insert(id.to_string(), grade);
    }
    rules
}

#[test]
fn spec_and_catalogue_list_the_same_rules_with_the_same_grades() {
    let spec = spec_rules();
    assert_eq!(spec.len(), 34, "SPEC.md defines 29 rules and 5 invariants");
    for (id, grade) in &spec {
        let rule = RuleId::parse(id).unwrap_or_else(|| panic!("{id} has no model counterpart"));
        let expected = match rule.grade() {
            Grade::Invariant => None,
            g => Some(g.as_str().to_string()),
        };
        assert_eq!(grade, &expected, "grade of {id}");
    }
    for rule in RuleId::ALL {
        assert!(
            spec.contains_key(rule.as_str()),
            "the model names {rule}, SPEC.md lacks it"
        );
    }
}

#[test]
fn the_model_step_names_every_rule() {
    // Every file of `model/src/world/`: the world and the steps' work by job.
    let source = [
        include_str!("../src/world/mod.rs"),
        include_str!("../src/world/actions.rs"),
        include_str!("../src/world/close.rs"),
        include_str!("../src/world/invariants.rs"),
        include_str!("../src/world/options.rs"),
        include_str!("../src/world/preconditions.rs"),
        include_str!("../src/world/queries.rs"),
        include_str!("../src/world/requests.rs"),
        include_str!("../src/world/timeouts.rs"),
    ]
    .concat();
    for rule in RuleId::ALL {
        let name = format!("RuleId::{rule:?}");
        assert!(
            source.contains(&name),
            "model/src/world/ never names {rule} ({name})"
        );
    }
}
