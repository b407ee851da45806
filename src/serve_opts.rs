//! `wlcs serve`'s own options beyond the address and the mutant: the fault injector
//! (`--chaos FAULT`, `--chaos-after N`) and where the implementation's calls run. Kept out of
//! `main.rs` so that the CLI's structure stays one small hunk.

use clap::Args;
use wlcs_http::{CallMode, ChaosOptions, Fault, ServeOptions};

/// `--chaos`'s parser: the names and descriptions come from [`Fault::ALL`], so the CLI
/// lists exactly the faults the injector has.
fn fault_parser() -> impl clap::builder::TypedValueParser<Value = Fault> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        Fault::ALL.map(|f| PossibleValue::new(f.name()).help(f.description())),
    )
    .try_map(|name: String| {
        Fault::parse(&name).ok_or_else(|| format!("no chaos fault is named {name:?}"))
    })
}

/// Requests answered faithfully before the fault starts, by default: the capabilities and the
/// first reset, so that a run fails inside a step.
pub const CHAOS_AFTER_DEFAULT: u64 = 2;

/// `wlcs serve`'s fault-injection and call options.
#[derive(Args, Clone, Debug)]
pub struct ServeExtra {
    /// Serve behind a fault injector: every answer after `--chaos-after` requests suffers
    /// this fault (for testing harness-error handling; never for conformance).
    #[arg(long, value_parser = fault_parser())]
    pub chaos: Option<Fault>,
    /// Requests answered faithfully before the chaos fault starts.
    #[arg(long, default_value_t = CHAOS_AFTER_DEFAULT)]
    pub chaos_after: u64,
    /// Run the implementation's calls on tokio's blocking pool instead of inline (the
    /// reference's calls take microseconds; inline is faster).
    #[arg(long)]
    pub blocking_calls: bool,
}

impl ServeExtra {
    /// The server options these flags select.
    pub fn serve_options(&self) -> ServeOptions {
        ServeOptions {
            chaos: self.chaos.map(|c| ChaosOptions {
                fault: c,
                after_requests: self.chaos_after,
            }),
            calls: if self.blocking_calls {
                CallMode::Blocking
            } else {
                CallMode::Inline
            },
            ..ServeOptions::default()
        }
    }
}
