//! The rules at hand: `wlcs rules` (ID, grade, capability needed, fixtures and mutants per
//! rule, summary) and `wlcs explain ID` (the rule's full text and sources from SPEC.md, which
//! is built into the binary, and the precise-semantics paragraphs that name it). Pure: the CLI
//! passes the fixtures in and prints what these functions return.

use crate::fixture::Fixture;
use wlcs_model::RuleId;
use wlcs_sut::Capabilities;
use wlcs_sut::mutants::Mutant;

/// SPEC.md as built into this binary.
pub const SPEC_MD: &str = include_str!("../SPEC.md");

/// Turns one capability off.
type CapabilityOff = fn(&mut Capabilities);

/// The capabilities a rule needs (the `Capabilities` field names), empty when it needs none.
pub fn capabilities_needed(rule: RuleId) -> Vec<&'static str> {
    let each: [(&'static str, CapabilityOff); 6] = [
        ("clock", |c| c.clock = false),
        ("multi_ip", |c| c.multi_ip = false),
        ("mobile", |c| c.mobile = false),
        ("hook_faults", |c| c.hook_faults = false),
        ("in_flight", |c| c.in_flight = false),
        ("options", |c| c.options = false),
    ];
    each.iter()
        .filter(|(_, off)| {
            let mut caps = Capabilities::ALL;
            off(&mut caps);
            crate::check::rules_needing(&caps)
                .iter()
                .any(|(r, _)| *r == rule)
        })
        .map(|(name, _)| *name)
        .collect()
}

/// The mutants of the reference implementation that declare they break a rule.
pub fn mutants_of(rule: RuleId) -> Vec<&'static str> {
    Mutant::ALL
        .iter()
        .filter(|m| m.expected_break() == Some(rule))
        .map(|m| m.name())
        .collect()
}

/// The fixtures that name a rule.
pub fn fixtures_of(rule: RuleId, fixtures: &[Fixture]) -> Vec<&str> {
    fixtures
        .iter()
        .filter(|f| f.rules.contains(&rule))
        .map(|f| f.name.as_str())
        .collect()
}

/// Whether `text` mentions `id` as a whole ID (`CLOSE-1` is not in `CLOSE-10`).
fn mentions(text: &str, id: &str) -> bool {
    text.match_indices(id).any(|(i, _)| {
        let after = text[i + id.len()..].chars().next();
        let before = text[..i].chars().next_back();
        !after.is_some_and(|c| c.is_ascii_alphanumeric())
            && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// A bullet of SPEC.md (`- ...` and its indented continuation lines), from line `start`.
fn bullet(lines: &[&str], start: usize) -> String {
    let mut out = vec![lines[start].trim_start_matches("- ").to_string()];
    for line in &lines[start + 1..] {
        if line.starts_with("  ") && !line.trim().is_empty() {
            out.push(line.trim().to_string());
        } else {
            break;
        }
    }
    out.join(" ")
}

/// The rule's paragraph in SPEC.md ("**CLOSE-6** MUST (D2). The hook runs ..."), unwrapped.
pub fn rule_text(rule: RuleId) -> Option<String> {
    let lines: Vec<&str> = SPEC_MD.lines().collect();
    let head = format!("- **{}**", rule.as_str());
    let start = lines.iter().position(|l| l.starts_with(&head))?;
    Some(bullet(&lines, start))
}

/// The sources (`D1`..) a rule's text cites, each with its line of SPEC.md "Sources".
pub fn sources_of(rule: RuleId) -> Vec<String> {
    let Some(text) = rule_text(rule) else {
        return Vec::new();
    };
    // The citation is the parenthesis after the grade: "MUST (D1, D2)."
    let cited: Vec<String> = text
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(inside, _)| {
            inside
                .split([',', ' '])
                .filter(|t| t.starts_with('D') && t[1..].chars().all(|c| c.is_ascii_digit()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let lines: Vec<&str> = SPEC_MD.lines().collect();
    cited
        .iter()
        .map(|d| {
            let head = format!("- {d} ");
            lines
                .iter()
                .position(|l| l.starts_with(&head))
                .map(|i| bullet(&lines, i))
                .unwrap_or_else(|| format!("{d} (not listed in SPEC.md \"Sources\")"))
        })
        .collect()
}

/// The paragraphs of SPEC.md's "Precise semantics" section that name a rule.
pub fn semantics_of(rule: RuleId) -> Vec<String> {
    let Some((_, section)) = SPEC_MD.split_once("## Precise semantics") else {
        return Vec::new();
    };
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .split("\n\n")
        .skip(1)
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| mentions(p, rule.as_str()))
        .collect()
}

/// `wlcs rules`: one row per rule (ID, grade, capabilities needed, summary), then its
/// fixtures and mutants.
pub fn render_rules(fixtures: &[Fixture]) -> String {
    let mut out = String::from("ID        GRADE    NEEDS        SUMMARY\n");
    let list = |names: Vec<&str>| {
        if names.is_empty() {
            "-".to_string()
        } else {
            names.join(", ")
        }
    };
    for rule in RuleId::ALL {
        let caps = capabilities_needed(*rule);
        out.push_str(&format!(
            "{:<9} {:<8} {:<12} {}\n",
            rule.as_str(),
            rule.grade().as_str(),
            if caps.is_empty() {
                "-".to_string()
            } else {
                caps.join(",")
            },
            rule.summary()
        ));
        out.push_str(&format!(
            "{:<19}fixtures: {}\n{:<19}mutants: {}\n",
            "",
            list(fixtures_of(*rule, fixtures)),
            "",
            list(mutants_of(*rule))
        ));
    }
    out.push_str(&format!(
        "\n{} rules; `wlcs explain ID` prints one in full with its sources.\n",
        RuleId::ALL.len()
    ));
    out
}

/// `wlcs explain ID`: the rule in full.
pub fn render_explain(rule: RuleId, fixtures: &[Fixture]) -> String {
    let mut out = format!(
        "{} ({}): {}\n\n",
        rule.as_str(),
        rule.grade().as_str(),
        rule.summary()
    );
    out.push_str("SPEC.md:\n");
    out.push_str(&wrap(
        &rule_text(rule).unwrap_or_else(|| "(not found in SPEC.md)".into()),
        "  ",
    ));
    let sources = sources_of(rule);
    if !sources.is_empty() {
        out.push_str("\nSources:\n");
        for s in sources {
            out.push_str(&wrap(&s, "  "));
        }
    }
    let semantics = semantics_of(rule);
    if !semantics.is_empty() {
        out.push_str("\nPrecise semantics (SPEC.md) that name it:\n");
        let paragraphs: Vec<String> = semantics.iter().map(|p| wrap(p, "  ")).collect();
        out.push_str(&paragraphs.join("\n"));
    }
    let caps = capabilities_needed(rule);
    out.push_str(&format!(
        "\nNeeds: {}\n",
        if caps.is_empty() {
            "no optional capability".to_string()
        } else {
            caps.join(", ")
        }
    ));
    let fx = fixtures_of(rule, fixtures);
    out.push_str(&format!(
        "Fixtures ({}): {}\n",
        fx.len(),
        if fx.is_empty() {
            "-".into()
        } else {
            fx.join(", ")
        }
    ));
    let ms = mutants_of(rule);
    out.push_str(&format!(
        "Mutants ({}): {}\n",
        ms.len(),
        if ms.is_empty() {
            "-".into()
        } else {
            ms.join(", ")
        }
    ));
    out
}

/// Wraps a paragraph at 96 columns with an indent.
fn wrap(text: &str, indent: &str) -> String {
    const WIDTH_MAX: usize = 96;
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > WIDTH_MAX {
            out.push_str(indent);
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(indent);
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Parses a rule ID as SPEC.md spells it, ignoring case.
pub fn parse_rule(text: &str) -> Option<RuleId> {
    RuleId::parse(&text.trim().to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_its_text_in_the_built_in_spec() {
        for rule in RuleId::ALL {
            let text = rule_text(*rule).expect("rule text");
            assert!(
                text.starts_with(&format!("**{}**", rule.as_str())),
                "{text}"
            );
        }
    }

    #[test]
    fn close_6_cites_d2_and_needs_nothing_optional() {
        let sources = sources_of(RuleId::Close6);
        assert_eq!(sources.len(), 1, "{sources:?}");
        assert!(sources[0].starts_with("D2 "), "{sources:?}");
        assert!(capabilities_needed(RuleId::Close6).is_empty());
        assert_eq!(capabilities_needed(RuleId::Time1), vec!["clock"]);
    }

    #[test]
    fn whole_ids_only() {
        assert!(mentions("see CLOSE-1.", "CLOSE-1"));
        assert!(!mentions("see CLOSE-10.", "CLOSE-1"));
        assert!(!mentions("XCLOSE-1", "CLOSE-1"));
    }
}
