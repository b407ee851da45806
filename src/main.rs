//! The `wlcs` command line: `run`, `replay`, `mutants`.
//!
//! Exit codes: 0 conformant, 1 a rule failed (a MUST divergence, or SHOULD under `--strict`,
//! or a rule no check reached), 2 a harness or usage error.

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use wlcs::fixture::Fixture;
use wlcs::mutation;
use wlcs::report;
use wlcs::runner::{self, RunConfig};
use wlcs_model::vocab::{CookieNameProfile, Profile, TimeoutProfile, WorldConfig};
use wlcs_sut::Sut;
use wlcs_sut::http::{HttpSut, ServeOptions, serve_blocking};
use wlcs_sut::memory::MemorySut;
use wlcs_sut::mutants::Mutant;

#[derive(Parser)]
#[command(
    name = "wlcs",
    version,
    about = "Conformance suite for 4D's WEB LEGACY CLOSE SESSION (command 1208)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run fixtures and generated traces against a target and print the per-rule report.
    Run(RunArgs),
    /// Replay one fixture file (a saved counterexample) against a target.
    Replay {
        /// The fixture file.
        path: PathBuf,
        #[command(flatten)]
        target: TargetArgs,
    },
    /// Run the suite against every mutant of the reference implementation.
    Mutants(MutantsArgs),
    /// Deterministic simulation: many seeds of long interleaved traces with swarm weights.
    Sim(SimArgs),
    /// Close throughput of any server speaking HARNESS.md (loopback only).
    Bench(BenchArgs),
    /// What the generator reaches below the rule level: the coverage matrix of a run's
    /// generated cases (exit 1 when a meaningful cell is not reached).
    Coverage(wlcs::coverage::CoverageArgs),
    /// Serve the reference implementation (or a mutant) over HTTP, as HARNESS.md describes.
    Serve {
        /// The address to listen on (loopback only: 127.0.0.0/8).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Serve a deliberately broken variant.
        #[arg(long)]
        mutant: Option<String>,
    },
}

#[derive(Args)]
struct BenchArgs {
    /// The server, `http://127.0.0.1:PORT` (loopback addresses only), e.g. `wlcs serve`.
    #[arg(long)]
    target: String,
    /// Seconds of load; then no more sessions are opened and the open ones are closed.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Keep-alive connections, one task each.
    #[arg(long, default_value_t = wlcs::bench::CONNECTIONS_DEFAULT)]
    connections: usize,
    /// Load-generator threads the connections share.
    #[arg(long, default_value_t = wlcs::bench::THREADS_DEFAULT)]
    threads: usize,
    /// Sessions opened then closed per round, across all connections (at most 32000).
    #[arg(long, default_value_t = wlcs::bench::SESSIONS_DEFAULT)]
    sessions: usize,
    /// How sessions are closed: `self`, `non-web` or `both`.
    #[arg(long, default_value = "both")]
    close: String,
    /// Write the JSON report here.
    #[arg(long)]
    report_json: Option<PathBuf>,
}

#[derive(Args)]
struct SimArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The first seed (decimal or 0x hex); random when absent, always printed.
    #[arg(long, value_parser = parse_u64)]
    seed: Option<u64>,
    /// How many seeds (seed, seed+1, ...).
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// Choices per seed.
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Worker threads across seeds.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Run every Nth seed twice and compare event logs (0: never).
    #[arg(long, default_value_t = 10)]
    check_determinism_every: u64,
    /// Save each failing seed's shrunk trace as a fixture in this directory.
    #[arg(long, default_value = "target/wlcs-sim")]
    save_dir: PathBuf,
    /// Also drive the target from this many OS threads at once and check the recorded history
    /// for linearizability against the model (0: off).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Operations of the threaded run, at most (it is also bounded to 30 s).
    #[arg(long, default_value_t = 100_000)]
    ops: u64,
    /// Keys (independent clients) of the threaded run.
    #[arg(long, default_value_t = 32)]
    keys: usize,
    /// Make the hook slow in the threaded run (widens race windows).
    #[arg(long)]
    slow_hook: bool,
}

#[derive(Args, Clone)]
struct TargetArgs {
    /// The target: `memory` (the embedded reference implementation) or `http://HOST:PORT`
    /// (any server speaking HARNESS.md, e.g. `wlcs serve`).
    #[arg(long, default_value = "memory")]
    target: String,
    /// Run against a deliberately broken variant of the reference implementation.
    #[arg(long)]
    mutant: Option<String>,
    /// TIME-3 profile: `timeout-keeps-id` (default) or `timeout-new-id`.
    #[arg(long, default_value = "timeout-keeps-id")]
    profile: String,
    /// Default cookie name profile: `cookie-4DSID_AppName` (default) or `cookie-4DSID`.
    #[arg(long, default_value = "cookie-4DSID_AppName")]
    cookie_profile: String,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The seed of the generated cases (decimal or 0x hex); random when absent, always printed.
    #[arg(long, value_parser = parse_u64)]
    seed: Option<u64>,
    /// Generated cases (default: 30 000 in process, about a second or two in release; 1 000
    /// over HTTP, about ten seconds).
    #[arg(long)]
    cases: Option<u64>,
    /// Steps per generated trace, at most.
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Only report and gate on these rules (prefix match, repeatable: `--rule CLOSE-1 --rule TIME`).
    #[arg(long = "rule")]
    rules: Vec<String>,
    /// SHOULD divergences fail the run.
    #[arg(long)]
    strict: bool,
    /// Write the JSON report here.
    #[arg(long)]
    report_json: Option<PathBuf>,
    /// The fixture directory.
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    /// Run only the fixture with this name.
    #[arg(long)]
    fixture: Option<String>,
    /// Skip fixtures.
    #[arg(long)]
    no_fixtures: bool,
    /// Replay one generated case by its seed (printed with every counterexample).
    #[arg(long, value_parser = parse_u64)]
    case_seed: Option<u64>,
    /// Save the first counterexample as a fixture file.
    #[arg(long)]
    save_counterexample: Option<PathBuf>,
}

#[derive(Args)]
struct MutantsArgs {
    /// Write the JSON mutants report here.
    #[arg(long)]
    report_json: Option<PathBuf>,
    /// The seed (decimal or 0x hex).
    #[arg(long, value_parser = parse_u64, default_value = "1")]
    seed: u64,
    /// Generated cases per mutant, at most.
    #[arg(long, default_value_t = 2000)]
    cases: u64,
    /// Steps per generated trace, at most.
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// The fixture directory.
    #[arg(long, default_value = "fixtures")]
    fixtures: PathBuf,
    /// Only these mutants (by name, repeatable).
    #[arg(long = "only")]
    only: Vec<String>,
    /// Generated traces only: measures what the generator and shrinker find on their own.
    #[arg(long)]
    no_fixtures: bool,
}

fn parse_u64(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    parsed.map_err(|e| format!("{text:?} is not a u64 (decimal or 0x hex): {e}"))
}

fn world(args: &TargetArgs) -> Result<WorldConfig> {
    let timeout = match args.profile.as_str() {
        "timeout-keeps-id" => TimeoutProfile::KeepsId,
        "timeout-new-id" => TimeoutProfile::NewId,
        other => bail!("unknown profile {other:?} (timeout-keeps-id or timeout-new-id)"),
    };
    let cookie_name = match args.cookie_profile.as_str() {
        "cookie-4DSID_AppName" => CookieNameProfile::WithAppName,
        "cookie-4DSID" => CookieNameProfile::Bare,
        other => bail!("unknown cookie profile {other:?} (cookie-4DSID_AppName or cookie-4DSID)"),
    };
    Ok(WorldConfig {
        profile: Profile {
            timeout,
            cookie_name,
        },
        ..WorldConfig::default()
    })
}

/// How a target will be called: one call at a time (the checker, the simulator's seeds) or
/// from several threads at once (where a slow hook's delay widens race windows).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Calls {
    Sequential,
    Concurrent,
}

fn target(args: &TargetArgs) -> Result<(Box<dyn Sut>, String)> {
    target_for(args, Calls::Sequential)
}

fn target_for(args: &TargetArgs, calls: Calls) -> Result<(Box<dyn Sut>, String)> {
    let mutant = match &args.mutant {
        None => None,
        Some(name) => Some(Mutant::parse(name).with_context(|| {
            let names: Vec<&str> = Mutant::ALL.iter().map(|m| m.name()).collect();
            format!("unknown mutant {name:?}; known: {}", names.join(", "))
        })?),
    };
    match args.target.as_str() {
        "memory" => {
            let name = match mutant {
                None => "memory (reference)".to_string(),
                Some(m) => format!("memory (mutant {})", m.name()),
            };
            let sut = MemorySut::with_mutant(mutant);
            // One caller at a time gains nothing from a slow hook's sleep but wall time.
            let sut = match calls {
                Calls::Sequential => sut.with_slow_hook(std::time::Duration::ZERO),
                Calls::Concurrent => sut,
            };
            Ok((Box::new(sut), name))
        }
        url if url.starts_with("http://") => {
            if mutant.is_some() {
                bail!(
                    "--mutant applies to the embedded target; serve a mutant with `wlcs serve --mutant NAME`"
                );
            }
            let sut = HttpSut::connect(url).with_context(|| format!("connecting to {url}"))?;
            Ok((Box::new(sut), url.to_string()))
        }
        other => bail!("unknown target {other:?}: `memory` or `http://HOST:PORT`"),
    }
}

fn replay_base(args: &TargetArgs) -> String {
    let mut cmd = "wlcs run".to_string();
    if args.target != "memory" {
        cmd.push_str(&format!(" --target {}", args.target));
    }
    if let Some(m) = &args.mutant {
        cmd.push_str(&format!(" --mutant {m}"));
    }
    if args.profile != "timeout-keeps-id" {
        cmd.push_str(&format!(" --profile {}", args.profile));
    }
    cmd
}

fn time_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn run(args: RunArgs) -> Result<i32> {
    let (sut, name) = target(&args.target)?;
    let seed = args.seed.unwrap_or_else(time_seed);
    let mut fixtures = if args.no_fixtures {
        Vec::new()
    } else {
        Fixture::load_dir(&args.fixtures)?
    };
    if let Some(only) = &args.fixture {
        fixtures.retain(|f| &f.name == only);
        if fixtures.is_empty() {
            bail!("no fixture named {only:?} in {}", args.fixtures.display());
        }
    }
    let cfg = RunConfig {
        seed,
        cases: match (args.fixture.is_some(), args.cases) {
            (true, _) => 0,
            (false, Some(n)) => n,
            (false, None) if args.target.target.starts_with("http://") => 1_000,
            (false, None) => 30_000,
        },
        steps: args.steps,
        strict: args.strict,
        rules: args.rules.clone(),
        case_seed: args.case_seed,
        world: world(&args.target)?,
        replay_base: replay_base(&args.target),
        ..RunConfig::default()
    };
    eprintln!(
        "wlcs: seed {seed:#x} (replay the whole run: {} --seed {seed:#x} --cases {} --steps {})",
        cfg.replay_base, cfg.cases, cfg.steps
    );
    let report = runner::run(sut.as_ref(), &fixtures, &cfg, &name);
    print!("{}", report::render_text(&report));
    if let Some(path) = &args.report_json {
        std::fs::write(path, report::to_json(&report))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let (Some(path), Some(c)) = (&args.save_counterexample, report.counterexamples.first()) {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "counterexample".into());
        Fixture::from_counterexample(c, stem, seed, name.clone()).save(path)?;
        eprintln!(
            "wlcs: counterexample saved to {} (replay: wlcs replay {})",
            path.display(),
            path.display()
        );
    }
    Ok(report.verdict.exit_code())
}

fn replay(path: PathBuf, target_args: TargetArgs) -> Result<i32> {
    let (sut, name) = target(&target_args)?;
    let fixture = Fixture::load(&path)?;
    let cfg = RunConfig {
        cases: 0,
        rules: fixture
            .rules
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
        replay_base: replay_base(&target_args),
        ..RunConfig::default()
    };
    let run = wlcs::checker::Checker::run(sut.as_ref(), &fixture.trace);
    for line in &run.transcript {
        println!("{line}");
    }
    let report = runner::run(sut.as_ref(), std::slice::from_ref(&fixture), &cfg, &name);
    println!();
    print!("{}", report::render_text(&report));
    Ok(report.verdict.exit_code())
}

fn mutants(args: MutantsArgs) -> Result<i32> {
    let fixtures = if args.no_fixtures {
        Vec::new()
    } else {
        Fixture::load_dir(&args.fixtures)?
    };
    let selected: Vec<Mutant> = if args.only.is_empty() {
        Mutant::ALL.to_vec()
    } else {
        args.only
            .iter()
            .map(|n| Mutant::parse(n).with_context(|| format!("unknown mutant {n:?}")))
            .collect::<Result<_>>()?
    };
    let cfg = mutation::MutationConfig {
        seed: args.seed,
        cases: args.cases,
        steps: args.steps,
    };
    let report = mutation::run_all(&selected, &fixtures, &cfg, &mut |row| {
        eprintln!("{}", mutation::render_row(row));
    });
    print!("{}", mutation::render_text(&report));
    if let Some(path) = &args.report_json {
        std::fs::write(path, mutation::to_json(&report))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(mutation::exit_code(&report))
}

fn sim(args: SimArgs) -> Result<i32> {
    // Fail on a bad target before spawning workers.
    let (_, name) = target(&args.target)?;
    let first_seed = args.seed.unwrap_or_else(time_seed);
    let mut replay_base = replay_base(&args.target).replacen("wlcs run", "wlcs sim", 1);
    if args.steps != 200 {
        replay_base.push_str(&format!(" --steps {}", args.steps));
    }
    let cfg = wlcs::sim::SimConfig {
        first_seed,
        seeds: args.seeds,
        steps: args.steps,
        workers: args.workers,
        world: world(&args.target)?,
        determinism_every: args.check_determinism_every,
        replay_base,
    };
    eprintln!(
        "wlcs sim: target {name}, first seed {first_seed:#x} (replay: {} --seed {first_seed:#x} --seeds {})",
        cfg.replay_base, cfg.seeds
    );
    let make = || -> Box<dyn Sut> {
        match target(&args.target) {
            Ok((sut, _)) => sut,
            Err(_) => Box::new(MemorySut::new()),
        }
    };
    let report = if args.seeds > 0 {
        let report = wlcs::sim::run(&make, &cfg);
        print!("{}", wlcs::sim::render_text(&report, &cfg));
        report
    } else {
        wlcs::sim::SimReport::default()
    };
    let mut threaded_code = 0;
    if args.threads > 0 {
        let concurrent_cfg = wlcs::concurrent::ConcurrentConfig {
            seed: first_seed,
            threads: args.threads,
            keys: args.keys,
            ops_max: args.ops,
            slow_hook: args.slow_hook,
            world: cfg.world.clone(),
            ..wlcs::concurrent::ConcurrentConfig::default()
        };
        let (sut, _) = target_for(&args.target, Calls::Concurrent)?;
        let threaded = wlcs::concurrent::run_concurrent(sut.as_ref(), &concurrent_cfg);
        threaded_code = threaded.exit_code();
        println!();
        if threaded_code == 1 {
            // Not linearizable: shrink the workload, then show the smallest failing run.
            let before = (
                concurrent_cfg.ops_max,
                concurrent_cfg.keys,
                concurrent_cfg.threads,
            );
            let shrunk = wlcs::concurrent::shrink(sut.as_ref(), &concurrent_cfg, threaded);
            let c = &shrunk.config;
            print!("{}", wlcs::concurrent::render_text(&shrunk.report));
            println!(
                "\nshrunk in {} runs from {} operations, {} keys, {} threads to {} operations, {} keys, {} threads",
                shrunk.runs, before.0, before.1, before.2, c.ops_max, c.keys, c.threads
            );
            println!(
                "replay the workload (the interleaving is the scheduler's: a replay may need a few runs): {} --seed {:#x} --seeds 0 --threads {} --keys {} --ops {}",
                cfg.replay_base, c.seed, c.threads, c.keys, c.ops_max
            );
        } else {
            print!("{}", wlcs::concurrent::render_text(&threaded));
        }
    }
    for f in &report.failures {
        let Some(c) = &f.counterexample else { continue };
        std::fs::create_dir_all(&args.save_dir)
            .with_context(|| format!("creating {}", args.save_dir.display()))?;
        let stem = format!("sim-{:x}-{}", f.seed, c.rule.as_str().to_ascii_lowercase());
        let path = args.save_dir.join(format!("{stem}.json"));
        Fixture::from_counterexample(c, stem, f.seed, format!("{name} via wlcs sim"))
            .save(&path)?;
        eprintln!(
            "wlcs sim: seed {:#x} saved to {} (wlcs replay {})",
            f.seed,
            path.display(),
            path.display()
        );
    }
    Ok(wlcs::sim::exit_code(&report).max(threaded_code))
}

fn serve(addr: std::net::SocketAddr, mutant: Option<String>) -> Result<i32> {
    let args = TargetArgs {
        target: "memory".into(),
        mutant,
        profile: "timeout-keeps-id".into(),
        cookie_profile: "cookie-4DSID_AppName".into(),
    };
    let mutant = match &args.mutant {
        None => None,
        Some(name) => {
            Some(Mutant::parse(name).with_context(|| format!("unknown mutant {name:?}"))?)
        }
    };
    let (_, name) = target(&args)?;
    let sut: Arc<dyn Sut> = Arc::new(MemorySut::with_mutant(mutant));
    serve_blocking(addr, sut, ServeOptions::default(), |bound| {
        eprintln!("wlcs: serving {name} on http://{bound} (HARNESS.md v1); stop with Ctrl-C");
    })
    .with_context(|| format!("serving on {addr}"))?;
    Ok(0)
}

fn bench(args: BenchArgs) -> Result<i32> {
    let close = wlcs::bench::CloseKind::parse(&args.close).with_context(|| {
        format!(
            "--close must be self, non-web or both, got {:?}",
            args.close
        )
    })?;
    if !(args.duration.is_finite() && args.duration > 0.0) {
        bail!("--duration must be a positive number of seconds");
    }
    let cfg = wlcs::bench::BenchConfig {
        target: args.target,
        duration_ms: (args.duration * 1_000.0).round() as u64,
        connections: args.connections,
        threads: args.threads,
        sessions: args.sessions,
        close,
        ..wlcs::bench::BenchConfig::default()
    };
    let report = wlcs::bench::run(&cfg).with_context(|| format!("benchmarking {}", cfg.target))?;
    print!("{}", wlcs::bench::render_text(&report));
    if let Some(path) = &args.report_json {
        std::fs::write(path, wlcs::bench::render_json(&report))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(0)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Replay { path, target } => replay(path, target),
        Command::Mutants(args) => mutants(args),
        Command::Sim(args) => sim(args),
        Command::Serve { addr, mutant } => serve(addr, mutant),
        Command::Bench(args) => bench(args),
        Command::Coverage(args) => Ok(wlcs::coverage::command(&args)),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(2)),
        Err(e) => {
            eprintln!("wlcs: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
