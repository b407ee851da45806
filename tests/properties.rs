//! Properties over arbitrary generated traces, run by proptest's own runner (failures shrink
//! and are persisted under `tests/*.proptest-regressions`, which are committed).

use proptest::prelude::*;
use wlcs::check::{Checker, Verdict};
use wlcs::generate::{GenConfig, choices, interpret};
use wlcs_model::Model;
use wlcs_model::vocab::{Profile, TimeoutProfile, WorldConfig};
use wlcs_sut::Capabilities;
use wlcs_sut::memory::MemorySut;

fn gen_cfg(timeout: TimeoutProfile) -> GenConfig {
    GenConfig {
        world: WorldConfig {
            profile: Profile {
                timeout,
                ..Profile::default()
            },
            ..WorldConfig::default()
        },
        caps: Capabilities::ALL,
        weights: Default::default(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The reference implementation agrees with the model on every generated trace, under
    /// both TIME-3 profiles.
    #[test]
    fn reference_agrees_with_the_model(c in choices(60), new_id in any::<bool>()) {
        let profile = if new_id { TimeoutProfile::NewId } else { TimeoutProfile::KeepsId };
        let trace = interpret(&c, &gen_cfg(profile));
        let run = Checker::run(&MemorySut::new(), &trace);
        prop_assert_eq!(run.verdict, Verdict::Pass, "{}", run.transcript.join("\n"));
    }

    /// Interpretation only emits valid steps, and the model is deterministic and keeps its own
    /// invariants on them.
    #[test]
    fn interpreted_traces_are_valid_and_deterministic(c in choices(60)) {
        let cfg = gen_cfg(TimeoutProfile::KeepsId);
        let trace = interpret(&c, &cfg);
        let mut a = Model::new(trace.config.clone());
        let mut b = Model::new(trace.config.clone());
        for step in &trace.steps {
            let oa = a.step(step);
            prop_assert_eq!(&oa.invalid, &None);
            prop_assert_eq!(&oa.model_fault, &None);
            prop_assert_eq!(oa, b.step(step));
        }
    }
}
