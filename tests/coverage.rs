//! The generator's coverage matrix (`wlcs coverage`, src/coverage.rs): the default run reaches
//! every cell SPEC.md gives a meaning and none of the cells listed unreachable; the lists are
//! exact; edge cells are counted where they happen. Also the model's activity index (the fix
//! of issue 15.3) agrees with a plain scan over generated traces.

use wlcs::coverage::{
    self, Cell, Coverage, DEFAULT_CASES, DEFAULT_STEPS, EQUIVALENT, UNREACHABLE, all_cells, meaning,
};
use wlcs::generate::GenConfig;
use wlcs::runner::{case_seeds, generated_trace};
use wlcs_model::vocab::{Action, IdText, OptionSet, Request, SessionRef, Step};
use wlcs_model::{Model, Trace};

fn default_run() -> Coverage {
    coverage::measure(
        1,
        DEFAULT_CASES,
        DEFAULT_STEPS,
        &coverage::default_gen_config(),
    )
}

#[test]
fn default_run_reaches_every_meaningful_cell_and_no_unreachable_one() {
    let cov = default_run();
    let (missing, impossible) = cov.holes();
    assert!(missing.is_empty(), "not reached: {missing:?}");
    assert!(
        impossible.is_empty(),
        "listed unreachable but reached: {impossible:?}"
    );
    assert_eq!(cov.traces, DEFAULT_CASES);
}

#[test]
fn every_listed_class_holds_cells_and_every_cell_is_classified() {
    let names: Vec<&str> = UNREACHABLE
        .iter()
        .chain(EQUIVALENT)
        .map(|(n, _)| *n)
        .collect();
    let mut used = std::collections::BTreeSet::new();
    let mut meaningful = 0;
    for cell in all_cells() {
        match meaning(cell) {
            Ok(_) => meaningful += 1,
            Err(name) => {
                assert!(names.contains(&name), "{cell}: unlisted class {name}");
                used.insert(name);
            }
        }
    }
    for name in &names {
        assert!(used.contains(name), "class {name} classifies no cell");
    }
    assert!(meaningful > 100, "only {meaningful} meaningful cells");
}

fn req(cookie: Option<IdText>, actions: Vec<Action>) -> Step {
    Step::Request(Request {
        ip: 0,
        cookie,
        mobile: None,
        actions,
    })
}

#[test]
fn a_zero_second_advance_that_fires_a_due_timeout_is_its_own_cell() {
    let trace = Trace {
        config: Default::default(),
        steps: vec![
            req(None, vec![]),
            Step::Advance { seconds: 120 },
            Step::SetOption(OptionSet::ProcessTimeoutMin(1)),
            Step::Advance { seconds: 0 },
        ],
    };
    let cov = coverage::measure_trace(&trace);
    assert_eq!(cov.edges.get("advance/0s"), Some(&1));
    assert_eq!(cov.edges.get("advance/0s-fires-due"), Some(&1));
    assert_eq!(cov.edges.get("hook/save/timeout"), Some(&1));
}

#[test]
fn a_close_of_its_own_session_in_a_request_is_own_web_live_running_then_pending() {
    let close_current = Action::Close {
        id: IdText::Current,
    };
    let trace = Trace {
        config: Default::default(),
        steps: vec![
            req(None, vec![]),
            req(
                Some(IdText::Session(SessionRef(0))),
                vec![
                    close_current.clone(),
                    Action::GetExpiration {
                        id: IdText::Session(SessionRef(0)),
                    },
                ],
            ),
        ],
    };
    let cov = coverage::measure_trace(&trace);
    let cell = |s: &str| {
        all_cells()
            .find(|c: &Cell| c.to_string() == s)
            .and_then(|c| cov.cells.get(&c).copied())
    };
    assert_eq!(cell("cookie/exact/own-web/live-idle"), Some(1));
    assert_eq!(cell("close/current/own-web/live-running"), Some(1));
    assert_eq!(cell("expiration/exact/own-web/pending-close"), Some(1));
}

/// The model's ordered index of live and idle sessions (issue 15.3) answers what a scan of
/// every session answers, after every step of generated traces.
#[test]
fn live_session_count_agrees_with_a_scan() {
    let cfg = GenConfig {
        world: Default::default(),
        caps: wlcs_sut::Capabilities::ALL,
        weights: Default::default(),
    };
    for seed in case_seeds(7, 300) {
        let trace = generated_trace(seed, 60, &cfg);
        let mut model = Model::new(trace.config.clone());
        for step in &trace.steps {
            model.step(step);
            let scanned = (0..model.sessions_opened())
                .filter(|s| !model.running_lanes(SessionRef(*s)).is_empty())
                .count();
            assert_eq!(model.live_sessions(), scanned, "case {seed:#x}");
        }
    }
}
