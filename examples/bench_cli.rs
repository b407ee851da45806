//! `wlcs bench` until the CLI wires it: the same clap arguments and the same call.
//!
//! ```text
//! cargo run --release --example bench_cli -- --target http://127.0.0.1:8080 --duration 5
//! ```

use clap::{Args, Parser};
use std::path::PathBuf;
use std::process::ExitCode;
use wlcs::bench::{self, BenchConfig, CloseKind};

/// `wlcs bench`: close throughput of any server speaking HARNESS.md (loopback only).
#[derive(Args, Debug)]
struct BenchArgs {
    /// The server, `http://127.0.0.1:PORT` (loopback addresses only), e.g. `wlcs serve`.
    #[arg(long)]
    target: String,
    /// Seconds of load; then no more sessions are opened and the open ones are closed.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Keep-alive connections, one task each.
    #[arg(long, default_value_t = bench::CONNECTIONS_DEFAULT)]
    connections: usize,
    /// Load-generator threads the connections share.
    #[arg(long, default_value_t = bench::THREADS_DEFAULT)]
    threads: usize,
    /// Sessions opened then closed per round, across all connections (at most 32000).
    #[arg(long, default_value_t = bench::SESSIONS_DEFAULT)]
    sessions: usize,
    /// How sessions are closed: `self` (close_current in a web request), `non-web`, `both`.
    #[arg(long, default_value = "both")]
    close: String,
    /// Write the JSON report here.
    #[arg(long)]
    report_json: Option<PathBuf>,
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: BenchArgs,
}

fn main() -> ExitCode {
    let args = Cli::parse().args;
    let Some(close) = CloseKind::parse(&args.close) else {
        eprintln!("wlcs bench: --close must be self, non-web or both");
        return ExitCode::from(2);
    };
    if !(args.duration.is_finite() && args.duration > 0.0) {
        eprintln!("wlcs bench: --duration must be a positive number of seconds");
        return ExitCode::from(2);
    }
    let cfg = BenchConfig {
        target: args.target,
        duration_ms: (args.duration * 1_000.0).round() as u64,
        connections: args.connections,
        threads: args.threads,
        sessions: args.sessions,
        close,
        ..BenchConfig::default()
    };
    match bench::run(&cfg) {
        Ok(report) => {
            print!("{}", bench::render_text(&report));
            if let Some(path) = args.report_json
                && let Err(e) = std::fs::write(&path, bench::render_json(&report))
            {
                eprintln!("wlcs bench: cannot write {}: {e}", path.display());
                return ExitCode::from(2);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wlcs bench: error: {e}");
            ExitCode::from(2)
        }
    }
}
