//! Capability gating in one table: for each capability a system under test may lack, the
//! steps that need it and the rules whose checks cannot fail without it (HARNESS.md
//! "Capabilities"). A trace with such a step is skipped, and each such rule is reported
//! `skip` with the table's reason, never `pass`.

use wlcs_model::RuleId;
use wlcs_model::vocab::{HookBehavior, Step};
use wlcs_sut::Capabilities;

/// One capability a system under test may lack; also what a run can require (`--require
/// CAP`, see `gate::required`): the rules that need it fail, instead of being skipped, when the
/// target does not declare it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Capability {
    /// The suite controls the clock (TIME-1..4).
    Clock,
    /// Requests from several client IPs (REQ-5).
    MultiIp,
    /// 4D Mobile sessions (MOBILE-1..3).
    Mobile,
    /// The hook's behaviour can be set (CLOSE-13, CLOSE-14).
    HookFaults,
    /// Requests held in flight (CLOSE-12).
    InFlight,
    /// WEB SET OPTION (LIMIT-1, LIMIT-2, CLOSE-9, INV-5).
    Options,
}

/// What one capability gates.
#[derive(Clone, Copy, Debug)]
pub struct Gate {
    /// The capability.
    pub capability: Capability,
    /// What a trace needs, in a skip message (`needs clock control`).
    pub need: &'static str,
    /// The rules whose checks need it.
    pub rules: &'static [RuleId],
    /// Why those rules are skipped.
    pub reason: &'static str,
}

/// The table. INV-5 is under options: at the default limit it cannot be exceeded, so its
/// checks are vacuous without WEB SET OPTION (HARNESS.md).
pub const GATES: &[Gate] = &[
    Gate {
        capability: Capability::Clock,
        need: "clock control",
        rules: &[RuleId::Time1, RuleId::Time2, RuleId::Time3, RuleId::Time4],
        reason: "the target does not let the suite control its clock",
    },
    Gate {
        capability: Capability::MultiIp,
        need: "several client IPs",
        rules: &[RuleId::Req5],
        reason: "the target cannot see several client IPs",
    },
    Gate {
        capability: Capability::Mobile,
        need: "4D Mobile sessions",
        rules: &[RuleId::Mobile1, RuleId::Mobile2, RuleId::Mobile3],
        reason: "the target has no 4D Mobile sessions",
    },
    Gate {
        capability: Capability::HookFaults,
        need: "hook behaviour control",
        rules: &[RuleId::Close13, RuleId::Close14],
        reason: "the target cannot set the hook's behaviour",
    },
    Gate {
        capability: Capability::InFlight,
        need: "requests in flight",
        rules: &[RuleId::Close12],
        reason: "the target cannot hold a request in flight",
    },
    Gate {
        capability: Capability::Options,
        need: "WEB SET OPTION",
        rules: &[RuleId::Limit1, RuleId::Limit2, RuleId::Close9, RuleId::Inv5],
        reason: "the target does not accept WEB SET OPTION",
    },
];

impl Capability {
    /// Every capability, in the table's order.
    pub const ALL: [Capability; 6] = [
        Capability::Clock,
        Capability::MultiIp,
        Capability::Mobile,
        Capability::HookFaults,
        Capability::InFlight,
        Capability::Options,
    ];

    /// Its name in reports, the field name of [`Capabilities`] (`multi_ip`).
    pub fn field_name(self) -> &'static str {
        match self {
            Capability::Clock => "clock",
            Capability::MultiIp => "multi_ip",
            Capability::Mobile => "mobile",
            Capability::HookFaults => "hook_faults",
            Capability::InFlight => "in_flight",
            Capability::Options => "options",
        }
    }

    /// The field names of the capabilities `caps` declares, in the table's order.
    pub fn names_in(caps: &Capabilities) -> Vec<&'static str> {
        Capability::ALL
            .into_iter()
            .filter(|c| c.present(caps))
            .map(Capability::field_name)
            .collect()
    }

    /// Whether `caps` has it.
    pub fn present(self, caps: &Capabilities) -> bool {
        match self {
            Capability::Clock => caps.clock,
            Capability::MultiIp => caps.multi_ip,
            Capability::Mobile => caps.mobile,
            Capability::HookFaults => caps.hook_faults,
            Capability::InFlight => caps.in_flight,
            Capability::Options => caps.options,
        }
    }

    /// `caps` without it.
    pub fn without(self, caps: Capabilities) -> Capabilities {
        self.set(caps, false)
    }

    /// `caps` with it.
    pub fn with(self, caps: Capabilities) -> Capabilities {
        self.set(caps, true)
    }

    fn set(self, caps: Capabilities, to: bool) -> Capabilities {
        let mut c = caps;
        match self {
            Capability::Clock => c.clock = to,
            Capability::MultiIp => c.multi_ip = to,
            Capability::Mobile => c.mobile = to,
            Capability::HookFaults => c.hook_faults = to,
            Capability::InFlight => c.in_flight = to,
            Capability::Options => c.options = to,
        }
        c
    }

    /// Its row of [`GATES`] (the table lists the capabilities in declaration order; a test
    /// holds it to that).
    pub fn gate(self) -> &'static Gate {
        &GATES[self as usize]
    }

    /// The capabilities one step needs, in the order a skip message names them.
    pub fn needed_by(step: &Step) -> impl Iterator<Item = Capability> {
        let request = match step {
            Step::Request(r) | Step::Begin { request: r, .. } => Some(r),
            _ => None,
        };
        let first = match step {
            Step::Advance { .. } => Some(Capability::Clock),
            Step::SetOption(_) => Some(Capability::Options),
            Step::SetHook(b) if *b != HookBehavior::Save => Some(Capability::HookFaults),
            Step::Begin { .. } | Step::End { .. } => Some(Capability::InFlight),
            _ => None,
        };
        let mobile = request
            .filter(|r| r.mobile.is_some())
            .map(|_| Capability::Mobile);
        let ip = request.filter(|r| r.ip != 0).map(|_| Capability::MultiIp);
        [first, mobile, ip].into_iter().flatten()
    }
}

/// What a trace needs of the system under test; `None` when the capabilities cover it.
pub fn missing_capability(trace: &wlcs_model::Trace, caps: &Capabilities) -> Option<String> {
    trace.steps.iter().find_map(|step| {
        Capability::needed_by(step)
            .find(|c| !c.present(caps))
            .map(|c| c.gate().need.to_string())
    })
}

/// The rules a missing capability leaves unchecked, with the reason.
pub fn rules_needing(caps: &Capabilities) -> Vec<(RuleId, &'static str)> {
    GATES
        .iter()
        .filter(|g| !g.capability.present(caps))
        .flat_map(|g| g.rules.iter().map(move |r| (*r, g.reason)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_capability_once_in_declaration_order() {
        let listed: Vec<Capability> = GATES.iter().map(|g| g.capability).collect();
        assert_eq!(listed, Capability::ALL.to_vec());
        for c in Capability::ALL {
            assert_eq!(c.gate().capability, c);
            assert!(c.present(&Capabilities::ALL));
            assert!(!c.present(&c.without(Capabilities::ALL)));
        }
    }

    #[test]
    fn inv_5_is_skipped_without_options() {
        let caps = Capability::Options.without(Capabilities::ALL);
        assert!(rules_needing(&caps).iter().any(|(r, _)| *r == RuleId::Inv5));
        assert!(rules_needing(&Capabilities::ALL).is_empty());
    }
}
