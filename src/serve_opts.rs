//! `wlcs serve`'s own options beyond the address and the mutant: the fault injector
//! (`--chaos FAULT`, `--chaos-after N`) and where the implementation's calls run. Kept out of
//! `main.rs` so that the CLI's structure stays one small hunk.

use clap::{Args, ValueEnum};
use wlcs_http::{CallMode, ChaosOptions, Fault, ServeOptions};

/// A fault of `wlcs serve --chaos` (see [`wlcs_http::chaos`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChaosFault {
    /// Bytes that are not HTTP, then the connection closes.
    Garbage,
    /// A 200 whose JSON has the wrong shape.
    WrongShape,
    /// Half the body, then the connection closes.
    Truncated,
    /// The connection is reset instead of answered.
    Reset,
    /// No answer, ever.
    Stall,
    /// The answer one byte every 250 ms.
    Drip,
    /// A 1 MiB header line.
    HugeHeader,
    /// 10 000 Set-Cookie headers.
    ManySetCookie,
    /// 500 with a text body.
    #[value(name = "5xx")]
    Status5xx,
    /// The server dies after `--chaos-after` requests.
    Dies,
    /// The capabilities claim features whose endpoints then answer 404.
    LiarCapabilities,
}

impl ChaosFault {
    /// The injector's fault.
    pub fn fault(self) -> Fault {
        match self {
            ChaosFault::Garbage => Fault::Garbage,
            ChaosFault::WrongShape => Fault::WrongShape,
            ChaosFault::Truncated => Fault::Truncated,
            ChaosFault::Reset => Fault::Reset,
            ChaosFault::Stall => Fault::Stall,
            ChaosFault::Drip => Fault::Drip,
            ChaosFault::HugeHeader => Fault::HugeHeader,
            ChaosFault::ManySetCookie => Fault::ManySetCookie,
            ChaosFault::Status5xx => Fault::Status5xx,
            ChaosFault::Dies => Fault::Dies,
            ChaosFault::LiarCapabilities => Fault::LiarCapabilities,
        }
    }
}

/// Requests answered faithfully before the fault starts, by default: the capabilities and the
/// first reset, so that a run fails inside a step.
pub const CHAOS_AFTER_DEFAULT: u64 = 2;

/// `wlcs serve`'s fault-injection and call options.
#[derive(Args, Clone, Debug)]
pub struct ServeExtra {
    /// Serve behind a fault injector: every answer after `--chaos-after` requests suffers
    /// this fault (for testing harness-error handling; never for conformance).
    #[arg(long, value_enum)]
    pub chaos: Option<ChaosFault>,
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
                fault: c.fault(),
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
