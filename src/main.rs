//! The `wlcs` command line: `run`, `replay`, `mutants`, `sim`, `bench`, `serve`.
//!
//! Exit codes (see `crate::gate` and README "Exit codes"): 0 conformant, 1 a conformance
//! failure (even when the run also had harness errors), 2 a harness error (the target
//! misbehaved), 3 a usage or input error, 4 nothing was checked.

mod cli_reports;

use anyhow::{Context, Result};
use clap::builder::PossibleValue;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use wlcs::builtin;
use wlcs::fixture::{Fixture, FixtureError};
use wlcs::gate::{self, Capability, UsageError, usage};
use wlcs::mutation;
use wlcs::progress::Display;
use wlcs::replay::ReplayCommand;
use wlcs::report;
use wlcs::runner::{self, RunConfig};
use wlcs_http::{ClientOptions, HttpSut, serve_blocking};
use wlcs_model::RuleId;
use wlcs_model::vocab::{CookieNameProfile, Profile, TimeoutProfile, WorldConfig};
use wlcs_sut::mutants::Mutant;
use wlcs_sut::{Sut, SutError};

/// The exit-code contract, printed by `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  conformant: every selected rule checked and passed (only baselined failures)
  1  conformance failure: a rule failed (also when the run had harness errors too)
  2  harness error: the target misbehaved (no answer, garbage, a panic) and no rule failed
  3  usage or input error: a bad flag, an unknown rule, a bad fixture, a bound exceeded
  4  nothing was checked: every selected rule skipped, or nothing ran";

#[derive(Parser)]
#[command(
    name = "wlcs",
    version,
    about = "Conformance suite for 4D's WEB LEGACY CLOSE SESSION (command 1208)",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run fixtures and generated traces against a target and print the per-rule report.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Replay one fixture file (a saved counterexample) against a target; gates on every
    /// rule the trace touches.
    #[command(after_help = EXIT_CODES)]
    Replay(ReplayArgs),
    /// Run the suite against every mutant of the reference implementation.
    Mutants(MutantsArgs),
    /// Deterministic simulation: many seeds of long interleaved traces with swarm weights.
    Sim(SimArgs),
    /// Close throughput of any server speaking HARNESS.md (loopback only).
    Bench(BenchArgs),
    /// What the generator reaches below the rule level: the coverage matrix of a run's
    /// generated cases (exit 1 when a meaningful cell is not reached).
    Coverage(wlcs::coverage::CoverageArgs),
    /// Merge the JSON reports of a partitioned run into one verdict and every report format.
    #[command(after_help = EXIT_CODES)]
    Merge(cli_reports::MergeArgs),
    /// List the rules: ID, grade, capability needed, summary, fixtures, mutants.
    Rules(cli_reports::RulesArgs),
    /// Print one rule's full text and sources (SPEC.md), fixtures and mutants.
    Explain(cli_reports::ExplainArgs),
    /// Serve the reference implementation (or a mutant) over HTTP, as HARNESS.md describes.
    Serve {
        /// The address to listen on (loopback only: 127.0.0.0/8).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Serve a deliberately broken variant.
        #[arg(long, hide_possible_values = true)]
        mutant: Option<MutantArg>,
        /// Independent worlds to host, world k under /worlds/k (HARNESS.md "Worlds"); the
        /// suite checks cases on several at once. 1: one world, no `worlds` feature.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=16))]
        worlds: u16,
        #[command(flatten)]
        extra: wlcs::serve_opts::ServeExtra,
    },
}

/// A mutant of the reference implementation, by name (clap lists them in `--help`).
#[derive(Clone, Copy, Debug)]
struct MutantArg(Mutant);

static MUTANT_ARGS: LazyLock<Vec<MutantArg>> =
    LazyLock::new(|| Mutant::ALL.iter().copied().map(MutantArg).collect());

impl ValueEnum for MutantArg {
    fn value_variants<'a>() -> &'a [Self] {
        &MUTANT_ARGS
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()))
    }
}

/// The TIME-3 profile (SPEC.md TIME-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ProfileArg {
    /// A process timeout keeps the session's ID (the default).
    TimeoutKeepsId,
    /// A process timeout gives the next request a new ID.
    TimeoutNewId,
}

/// The default session cookie name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CookieProfileArg {
    /// `4DSID_<AppName>` (the default).
    #[value(name = "cookie-4DSID_AppName")]
    WithAppName,
    /// `4DSID`.
    #[value(name = "cookie-4DSID")]
    Bare,
}

/// How `wlcs bench` closes sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum CloseArg {
    /// Each session closes itself in a web request.
    #[value(name = "self")]
    SelfClose,
    /// Each session is closed from a non-web process.
    NonWeb,
    /// Alternately, one of each.
    Both,
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
    /// How sessions are closed.
    #[arg(long, value_enum, default_value_t = CloseArg::Both)]
    close: CloseArg,
    /// Write the JSON report here (`-`: stdout).
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
    /// Worker threads across seeds [default: 2 in process; over HTTP, one per world the
    /// server hosts, at most 8 (HARNESS.md "Worlds"); 1 on a server of one world, whose seeds
    /// run one at a time].
    #[arg(long)]
    workers: Option<usize>,
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
    /// Harness errors after which no more seeds start.
    #[arg(long, default_value_t = gate::HARNESS_ERRORS_MAX)]
    harness_errors_max: u32,
}

#[derive(Args, Clone)]
struct TargetArgs {
    /// The target: `memory` (the embedded reference implementation) or `http://HOST:PORT`
    /// (any server speaking HARNESS.md, e.g. `wlcs serve`).
    #[arg(long, default_value = "memory", value_parser = parse_target)]
    target: String,
    /// Run against a deliberately broken variant of the embedded reference implementation.
    #[arg(long, hide_possible_values = true)]
    mutant: Option<MutantArg>,
    /// TIME-3 profile [default: timeout-keeps-id] (`replay`: overrides the fixture's).
    #[arg(long, value_enum)]
    profile: Option<ProfileArg>,
    /// Default cookie name profile [default: cookie-4DSID_AppName] (`replay`: overrides the
    /// fixture's).
    #[arg(long, value_enum)]
    cookie_profile: Option<CookieProfileArg>,
    /// Timeout of one call to an HTTP target, milliseconds [default: 10000].
    #[arg(long)]
    call_timeout_ms: Option<u64>,
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
    /// Only report and gate on these rules: exact IDs (`CLOSE-1`) or globs (`CLOSE-*`),
    /// repeatable. An ID that matches no rule is a usage error.
    #[arg(long = "rule")]
    rules: Vec<String>,
    /// Leave these rules out (exact IDs or globs, repeatable).
    #[arg(long = "exclude-rule")]
    exclude_rules: Vec<String>,
    /// SHOULD divergences fail the run.
    #[arg(long)]
    strict: bool,
    /// A reading of a SHOULD rule the target declares (`CLOSE-12=reset-immediately`),
    /// repeatable; others are detected (src/readings.rs).
    #[arg(long = "reading")]
    readings: Vec<String>,
    /// A skipped rule fails the run.
    #[arg(long)]
    fail_on_skip: bool,
    /// Skip the security checks a run makes after its cases (REQ-6 ID quality over 2 000
    /// minted IDs, REQ-3 fixation probes, cookie attributes for information).
    #[arg(long)]
    no_security: bool,
    /// Rules that need this capability fail, instead of being skipped, when the target does
    /// not declare it (repeatable or comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    require: Vec<Capability>,
    /// Stop generating cases after this many seconds and report what ran.
    #[arg(long, value_name = "S")]
    time_budget: Option<f64>,
    /// Harness errors after which the run stops (the rest is reported as not run).
    #[arg(long, default_value_t = gate::HARNESS_ERRORS_MAX)]
    harness_errors_max: u32,
    #[command(flatten)]
    out: Box<cli_reports::OutputArgs>,
    /// Run only share K of N of the fixtures and generated cases (by index modulo N, from the
    /// same seed); `wlcs merge` joins the N JSON reports into the unsharded run's.
    #[arg(long, value_name = "K/N", value_parser = wlcs::report::Partition::parse)]
    partition: Option<wlcs::report::Partition>,
    /// A fixture directory: its fixtures are added to the built-in ones (a fixture of the
    /// same name replaces the built-in one).
    #[arg(long)]
    fixtures: Option<PathBuf>,
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
struct ReplayArgs {
    /// The fixture file.
    path: PathBuf,
    #[command(flatten)]
    target: TargetArgs,
    /// SHOULD divergences fail the replay.
    #[arg(long)]
    strict: bool,
}

#[derive(Args)]
struct MutantsArgs {
    /// Write the JSON mutants report here (`-`: stdout).
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
    /// A fixture directory added to the built-in fixtures.
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Only these mutants (by name, repeatable).
    #[arg(long = "only", hide_possible_values = true)]
    only: Vec<MutantArg>,
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

fn parse_target(text: &str) -> Result<String, String> {
    if text == "memory" || text.starts_with("http://") {
        Ok(text.to_string())
    } else {
        Err(format!(
            "unknown target {text:?}: `memory` or `http://HOST:PORT`"
        ))
    }
}

/// Set once stdout is a closed pipe (`wlcs replay x | head`): later output is dropped and
/// the run ends normally.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout; a closed pipe ends output quietly.
fn say(text: &str) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes a line to stderr (errors writing it are ignored: nowhere left to report them).
fn note(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Writes an output file, or stdout for `-`.
fn write_output(path: &Path, text: &str) -> Result<()> {
    if path.as_os_str() == "-" {
        say(text);
        Ok(())
    } else {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

fn profile_name(p: ProfileArg) -> &'static str {
    match p {
        ProfileArg::TimeoutKeepsId => "timeout-keeps-id",
        ProfileArg::TimeoutNewId => "timeout-new-id",
    }
}

fn cookie_profile_name(p: CookieProfileArg) -> &'static str {
    match p {
        CookieProfileArg::WithAppName => "cookie-4DSID_AppName",
        CookieProfileArg::Bare => "cookie-4DSID",
    }
}

fn timeout_profile(p: ProfileArg) -> TimeoutProfile {
    match p {
        ProfileArg::TimeoutKeepsId => TimeoutProfile::KeepsId,
        ProfileArg::TimeoutNewId => TimeoutProfile::NewId,
    }
}

fn cookie_name_profile(p: CookieProfileArg) -> CookieNameProfile {
    match p {
        CookieProfileArg::WithAppName => CookieNameProfile::WithAppName,
        CookieProfileArg::Bare => CookieNameProfile::Bare,
    }
}

fn world(args: &TargetArgs) -> WorldConfig {
    WorldConfig {
        profile: Profile {
            timeout: timeout_profile(args.profile.unwrap_or(ProfileArg::TimeoutKeepsId)),
            cookie_name: cookie_name_profile(
                args.cookie_profile.unwrap_or(CookieProfileArg::WithAppName),
            ),
        },
        ..WorldConfig::default()
    }
}

/// The replay command's flags for a target.
fn replay_command(args: &TargetArgs) -> ReplayCommand {
    ReplayCommand {
        target: (args.target != "memory").then(|| args.target.clone()),
        mutant: args.mutant.map(|m| m.0.name().to_string()),
        call_timeout_ms: args.call_timeout_ms,
        ..ReplayCommand::default()
    }
    .with_profiles(
        profile_name(args.profile.unwrap_or(ProfileArg::TimeoutKeepsId)),
        cookie_profile_name(args.cookie_profile.unwrap_or(CookieProfileArg::WithAppName)),
    )
}

/// Checks the flags of a target that need no connection.
fn check_target_args(args: &TargetArgs) -> Result<(), UsageError> {
    if let Some(m) = args.mutant
        && args.target != "memory"
        && m.0.kind() != wlcs_sut::mutants::Kind::Perturb
    {
        // A decorator mutant wraps any target; the others need the reference's internals.
        return Err(usage(format!(
            "--mutant {0} needs the reference's internals: run it embedded, or serve it with `wlcs serve --mutant {0}`",
            m.0.name()
        )));
    }
    if let Some(ms) = args.call_timeout_ms {
        if ms == 0 {
            return Err(usage("--call-timeout-ms must be at least 1"));
        }
        gate::bounded("--call-timeout-ms", ms, gate::CALL_TIMEOUT_MS_MAX)?;
    }
    Ok(())
}

/// Threads that check generated cases of `wlcs run` on a target of independent worlds, at most
/// (one per core, up to this).
const RUN_WORKERS_MAX: usize = 2;
/// Worlds of an HTTP target the suite uses at most (HARNESS.md "Worlds"): the calls are
/// latency-bound, so more worlds than cores still pay, up to about this many on 2 cores.
const HTTP_WORLDS_MAX: usize = 8;
/// `wlcs sim`'s worker threads in process when `--workers` is not given.
const SIM_WORKERS_DEFAULT: usize = 2;

/// How a target will be called: one call at a time (the checker, the simulator's seeds) or
/// from several threads at once (where a slow hook's delay widens race windows).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Calls {
    Sequential,
    Concurrent,
}

fn target_name(args: &TargetArgs) -> String {
    match (&args.mutant, args.target.as_str()) {
        (None, "memory") => "memory (reference)".to_string(),
        (Some(m), "memory") => format!("memory (mutant {})", m.0.name()),
        (Some(m), url) => format!("{url} (mutant {})", m.0.name()),
        (None, url) => url.to_string(),
    }
}

/// Builds the target: a harness error (exit 2) when it cannot be reached, never a fallback.
fn build_target(args: &TargetArgs, calls: Calls) -> Result<Box<dyn Sut>, SutError> {
    if args.target == "memory" {
        let sut = wlcs_sut::mutants::sut(args.mutant.map(|m| m.0));
        // One caller at a time gains nothing from a slow hook's sleep but wall time.
        return Ok(Box::new(match calls {
            Calls::Sequential => sut.with_slow_hook(std::time::Duration::ZERO),
            Calls::Concurrent => sut,
        }));
    }
    let mut opts = ClientOptions::default();
    if let Some(ms) = args.call_timeout_ms {
        opts.request_timeout_ms = ms;
    }
    let sut = HttpSut::connect_with(&args.target, opts)?;
    // A decorator mutant wraps any target, a served one included (`check_target_args`
    // refused the others).
    with_mutant(args, sut)
}

/// The instances a run checks on at once: over HTTP one adapter per world of the server (at
/// most [`HTTP_WORLDS_MAX`], one on a server without worlds); in process `max` independent
/// instances (one if the implementation's instances share a world). The first is where
/// fixtures run and counterexamples shrink.
fn build_targets(
    args: &TargetArgs,
    calls: Calls,
    max: usize,
) -> Result<Vec<Box<dyn Sut>>, SutError> {
    if args.target == "memory" {
        let first = build_target(args, calls)?;
        let count = if first.shares_world() { 1 } else { max.max(1) };
        let mut all = vec![first];
        for _ in 1..count {
            all.push(build_target(args, calls)?);
        }
        return Ok(all);
    }
    let mut opts = ClientOptions::default();
    if let Some(ms) = args.call_timeout_ms {
        opts.request_timeout_ms = ms;
    }
    let worlds = HttpSut::connect_worlds(&args.target, &opts, max.clamp(1, HTTP_WORLDS_MAX))?;
    worlds
        .into_iter()
        .map(|sut| with_mutant(args, sut))
        .collect()
}

/// `sut` behind the decorator mutant `args` names, if any.
fn with_mutant(args: &TargetArgs, sut: HttpSut) -> Result<Box<dyn Sut>, SutError> {
    match args.mutant.map(|m| m.0) {
        None => Ok(Box::new(sut)),
        Some(m) => match wlcs_sut::mutants::Perturbed::new(sut, m) {
            Some(perturbed) => Ok(Box::new(perturbed)),
            None => Err(SutError::Unsupported(format!(
                "mutant {m} needs the reference's internals"
            ))),
        },
    }
}

fn time_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn load_fixtures(dir: Option<&Path>, none: bool) -> Result<Vec<Fixture>, FixtureError> {
    if none {
        Ok(Vec::new())
    } else {
        builtin::with_dir(dir)
    }
}

fn run(args: RunArgs) -> Result<i32> {
    let (time_budget_ms, baseline) = check_run_args(&args)?;
    let fixtures = run_fixtures(&args)?;
    let seed = args.seed.unwrap_or_else(time_seed);
    let mut replay = replay_command(&args.target);
    replay.strict = args.strict;
    replay.no_fixtures = args.no_fixtures;
    replay.fixtures_dir = args
        .fixtures
        .as_ref()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()));
    let cfg = run_config(&args, seed, time_budget_ms, &replay)?;
    let whole = match (&args.fixture, args.case_seed) {
        (Some(name), _) => replay.fixture(name),
        (None, Some(case)) => replay.case(case, cfg.steps),
        (None, None) => replay.whole_run(seed, cfg.cases, cfg.steps),
    };
    note(&format!("wlcs: seed {seed:#x} (replay: {whole})"));
    let name = target_name(&args.target);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let max = if args.target.target == "memory" {
        cores.min(RUN_WORKERS_MAX)
    } else {
        HTTP_WORLDS_MAX
    };
    let mut report = match build_targets(&args.target, Calls::Sequential, max) {
        Ok(suts) => run_on(&suts, &fixtures, &cfg, &name),
        // The target cannot be reached: a harness error, reported like any run's.
        Err(e) => runner::unreachable_report(&cfg, &name, e),
    };
    args.out.finish(&mut report, baseline)?;
    if let (Some(path), Some(c)) = (&args.save_counterexample, report.counterexamples.first()) {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "counterexample".into());
        Fixture::from_counterexample(c, stem, seed, name.clone()).save(path)?;
        note(&format!(
            "wlcs: counterexample saved to {} (replay: {})",
            path.display(),
            replay.file(path)
        ));
    }
    Ok(report.verdict.exit_code())
}

/// Checks `wlcs run`'s flags before anything runs (bounds, rule selection, output paths),
/// returning the time budget in milliseconds and the baseline to apply.
fn check_run_args(args: &RunArgs) -> Result<(Option<u64>, Option<report::Baseline>)> {
    check_target_args(&args.target)?;
    gate::bounded("--steps", args.steps, gate::TRACE_STEPS_MAX)?;
    if let Some(cases) = args.cases {
        gate::bounded("--cases", cases, gate::CASES_MAX)?;
    }
    let time_budget_ms = match args.time_budget {
        None => None,
        Some(s) if s.is_finite() && s > 0.0 => Some((s * 1_000.0).round() as u64),
        Some(_) => return Err(usage("--time-budget must be a positive number of seconds").into()),
    };
    gate::select_rules(&args.rules, &args.exclude_rules)?;
    let baseline = args.out.check()?;
    if let Some(p) = &args.save_counterexample {
        gate::check_output_path("--save-counterexample", p)?;
    }
    Ok((time_budget_ms, baseline))
}

/// The fixtures `wlcs run` checks: built in plus `--fixtures`, or only the one `--fixture`
/// names (a usage error when none has that name), or none.
fn run_fixtures(args: &RunArgs) -> Result<Vec<Fixture>> {
    let mut fixtures = load_fixtures(args.fixtures.as_deref(), args.no_fixtures)?;
    if let Some(only) = &args.fixture {
        fixtures.retain(|f| &f.name == only);
        if fixtures.is_empty() {
            return Err(usage(format!(
                "no fixture named {only:?} (built in{})",
                args.fixtures
                    .as_ref()
                    .map(|d| format!(" or in {}", d.display()))
                    .unwrap_or_default()
            ))
            .into());
        }
    }
    Ok(fixtures)
}

/// The runner's configuration from `wlcs run`'s flags; a bad `--reading` is a usage error.
fn run_config(
    args: &RunArgs,
    seed: u64,
    time_budget_ms: Option<u64>,
    replay: &ReplayCommand,
) -> Result<RunConfig> {
    let http = args.target.target.starts_with("http://");
    Ok(RunConfig {
        seed,
        cases: match (args.fixture.is_some(), args.cases) {
            (true, _) => 0,
            (false, Some(n)) => n,
            (false, None) if http => 1_000,
            (false, None) => 30_000,
        },
        steps: args.steps,
        strict: args.strict,
        rules: args.rules.clone(),
        exclude_rules: args.exclude_rules.clone(),
        case_seed: args.case_seed,
        world: world(&args.target),
        replay: replay.clone(),
        harness_errors_max: args.harness_errors_max,
        time_budget_ms,
        fail_on_skip: args.fail_on_skip,
        security: !args.no_security,
        require: gate::required(&args.require),
        partition: args.partition,
        readings: {
            let mut r = wlcs_model::vocab::Readings::default();
            for spec in &args.readings {
                r.set(spec).map_err(|e| usage(format!("--reading {e}")))?;
            }
            r
        },
        ..RunConfig::default()
    })
}

/// Runs the fixtures and cases on `suts[0]` with the progress display, the other instances
/// (independent worlds: [`build_targets`]) checking cases at the same time.
fn run_on(
    suts: &[Box<dyn Sut>],
    fixtures: &[Fixture],
    cfg: &RunConfig,
    name: &str,
) -> report::Report {
    let mut display = Display::new("traces");
    let workers: Vec<&dyn wlcs_sut::Sut> = suts[1..].iter().map(|w| w.as_ref()).collect();
    let report = runner::run_workers(suts[0].as_ref(), &workers, fixtures, cfg, name, &mut |p| {
        display.update(p)
    });
    display.finish();
    report
}

fn replay(args: ReplayArgs) -> Result<i32> {
    check_target_args(&args.target)?;
    let mut fixture = Fixture::load(&args.path)?;
    // Profile flags override the fixture's own world; without them the fixture's is checked.
    if let Some(p) = args.target.profile {
        fixture.trace.config.profile.timeout = timeout_profile(p);
    }
    if let Some(p) = args.target.cookie_profile {
        fixture.trace.config.profile.cookie_name = cookie_name_profile(p);
    }
    let name = target_name(&args.target);
    let sut = build_target(&args.target, Calls::Sequential)
        .with_context(|| format!("connecting to {}", args.target.target))?;
    let first = runner::check(sut.as_ref(), &fixture.trace);
    for line in &first.transcript {
        say(&format!("{line}\n"));
    }
    // Gate on every rule the trace touches, not only those the fixture lists.
    let mut touched: Vec<RuleId> = RuleId::ALL
        .iter()
        .copied()
        .filter(|r| {
            let c = first.stats.get(*r);
            fixture.rules.contains(r) || c.fired > 0 || c.divergences > 0
        })
        .collect();
    if let wlcs::check::Verdict::Diverged(d) = &first.verdict {
        for r in std::iter::once(d.rule).chain(d.also.iter().copied()) {
            if !touched.contains(&r) {
                touched.push(r);
            }
        }
    }
    let mut replay = replay_command(&args.target);
    replay.strict = args.strict;
    let cfg = RunConfig {
        cases: 0,
        strict: args.strict,
        rules: touched.iter().map(|r| r.as_str().to_string()).collect(),
        replay,
        replay_file: Some(args.path.clone()),
        ..RunConfig::default()
    };
    let report = runner::run(sut.as_ref(), std::slice::from_ref(&fixture), &cfg, &name);
    say("\n");
    say(&report::render_text(&report));
    Ok(report.verdict.exit_code())
}

fn mutants(args: MutantsArgs) -> Result<i32> {
    gate::bounded("--steps", args.steps, gate::TRACE_STEPS_MAX)?;
    gate::bounded("--cases", args.cases, gate::CASES_MAX)?;
    if let Some(p) = &args.report_json {
        gate::check_output_path("--report-json", p)?;
    }
    let fixtures = load_fixtures(args.fixtures.as_deref(), args.no_fixtures)?;
    let selected: Vec<Mutant> = if args.only.is_empty() {
        Mutant::ALL.to_vec()
    } else {
        args.only.iter().map(|m| m.0).collect()
    };
    let cfg = mutation::MutationConfig {
        seed: args.seed,
        cases: args.cases,
        steps: args.steps,
    };
    // Rows go to stdout as they come, once; the summary follows.
    let report = mutation::run_all(&selected, &fixtures, &cfg, &mut |row| {
        say(&format!("{}\n", mutation::render_row(row)));
    });
    say(&mutation::render_summary(&report));
    if let Some(path) = &args.report_json {
        write_output(path, &mutation::to_json(&report))?;
    }
    Ok(mutation::exit_code(&report))
}

fn sim(args: SimArgs) -> Result<i32> {
    check_target_args(&args.target)?;
    gate::bounded("--steps", args.steps, gate::TRACE_STEPS_MAX)?;
    gate::bounded("--seeds", args.seeds, gate::SIM_SEEDS_MAX)?;
    gate::bounded("--ops", args.ops, gate::CONCURRENT_OPS_MAX)?;
    gate::bounded("--threads", args.threads, gate::CONCURRENT_THREADS_MAX)?;
    gate::bounded("--keys", args.keys, gate::CONCURRENT_KEYS_MAX)?;
    if args.seeds > 0 {
        gate::check_output_dir("--save-dir", &args.save_dir)?;
    }
    let name = target_name(&args.target);
    let first_seed = args.seed.unwrap_or_else(time_seed);
    let replay = replay_command(&args.target);
    let cfg = wlcs::sim::SimConfig {
        first_seed,
        seeds: args.seeds,
        steps: args.steps,
        workers: args.workers.unwrap_or(if args.target.target == "memory" {
            SIM_WORKERS_DEFAULT
        } else {
            HTTP_WORLDS_MAX
        }),
        world: world(&args.target),
        determinism_every: args.check_determinism_every,
        replay: replay.clone(),
        harness_errors_max: args.harness_errors_max,
    };
    note(&format!(
        "wlcs sim: target {name}, first seed {first_seed:#x} (replay: {})",
        replay.sim(first_seed, cfg.seeds, cfg.steps)
    ));
    let report = if args.seeds > 0 {
        sim_seeds(&args, &cfg, &name)?
    } else {
        wlcs::sim::SimReport::default()
    };
    let threaded_code = if args.threads > 0 {
        sim_threaded(&args, &cfg, &replay)?
    } else {
        0
    };
    save_sim_failures(&args.save_dir, &report, &name, &replay)?;
    Ok(wlcs::sim::exit_code(&report).max(threaded_code))
}

/// `wlcs sim`'s seeds, with the progress display, printed as the simulator's text report.
fn sim_seeds(
    args: &SimArgs,
    cfg: &wlcs::sim::SimConfig,
    name: &str,
) -> Result<wlcs::sim::SimReport> {
    // Over HTTP each worker takes its own world; a server of fewer worlds than workers, or
    // of one, gets fewer workers (the simulator asks for one more only while the first says
    // its world is its own).
    let worlds = Mutex::new(
        build_targets(&args.target, Calls::Sequential, cfg.workers)
            .with_context(|| format!("building the target {}", args.target.target))?,
    );
    let asked = cfg.workers.max(1);
    let mut cfg = cfg.clone();
    cfg.workers = cfg.workers.min(worlds.lock().map_or(1, |w| w.len()));
    let cfg = &cfg;
    let make = || -> Result<Box<dyn Sut>, SutError> {
        match worlds.lock() {
            Ok(mut w) if !w.is_empty() => Ok(w.remove(0)),
            _ => Err(SutError::Unsupported(
                "no world is left for another worker".into(),
            )),
        }
    };
    let display = Mutex::new(Display::new("seeds"));
    let report = wlcs::sim::run_observed(&make, cfg, &|p| {
        if let Ok(mut d) = display.lock() {
            d.update(p);
        }
    })
    .with_context(|| format!("building the target {}", args.target.target))?;
    if let Ok(mut d) = display.lock() {
        d.finish();
    }
    if report.workers == 1 && asked > 1 {
        note(&format!(
            "wlcs sim: {name} is one shared world: its seeds ran one at a time"
        ));
    } else if report.workers < asked {
        note(&format!(
            "wlcs sim: {name} hosts {} independent worlds: {} workers, not {asked}",
            report.workers, report.workers
        ));
    }
    say(&wlcs::sim::render_text(&report, cfg));
    Ok(report)
}

/// `wlcs sim --threads N`: the threaded workload on one target checked for linearizability,
/// shrunk and printed with its replay command when it is not; returns its exit code.
fn sim_threaded(args: &SimArgs, cfg: &wlcs::sim::SimConfig, replay: &ReplayCommand) -> Result<i32> {
    let concurrent_cfg = wlcs::concurrent::ConcurrentConfig {
        seed: cfg.first_seed,
        threads: args.threads,
        keys: args.keys,
        ops_max: args.ops,
        slow_hook: args.slow_hook,
        world: cfg.world.clone(),
        ..wlcs::concurrent::ConcurrentConfig::default()
    };
    let sut = build_target(&args.target, Calls::Concurrent)
        .with_context(|| format!("building the target {}", args.target.target))?;
    let threaded = wlcs::concurrent::run_concurrent(sut.as_ref(), &concurrent_cfg);
    let threaded_code = threaded.exit_code();
    say("\n");
    if threaded_code == 1 {
        // Not linearizable: shrink the workload, then show the smallest failing run.
        let before = (
            concurrent_cfg.ops_max,
            concurrent_cfg.keys,
            concurrent_cfg.threads,
        );
        let shrunk = wlcs::concurrent::shrink(sut.as_ref(), &concurrent_cfg, threaded);
        let c = &shrunk.config;
        say(&wlcs::concurrent::render_text(&shrunk.report));
        say(&format!(
            "\nshrunk in {} runs from {} operations, {} keys, {} threads to {} operations, {} keys, {} threads\n",
            shrunk.runs, before.0, before.1, before.2, c.ops_max, c.keys, c.threads
        ));
        say(&format!(
            "replay the workload (the interleaving is the scheduler's: a replay may need a few runs): {}\n",
            replay.sim_threads(c.seed, c.threads, c.keys, c.ops_max)
        ));
    } else {
        say(&wlcs::concurrent::render_text(&threaded));
    }
    Ok(threaded_code)
}

/// Saves each failing seed's shrunk counterexample as a fixture in `save_dir`, printing how
/// to replay it.
fn save_sim_failures(
    save_dir: &Path,
    report: &wlcs::sim::SimReport,
    name: &str,
    replay: &ReplayCommand,
) -> Result<()> {
    for f in &report.failures {
        let Some(c) = &f.counterexample else { continue };
        let stem = format!("sim-{:x}-{}", f.seed, c.rule.as_str().to_ascii_lowercase());
        std::fs::create_dir_all(save_dir)
            .with_context(|| format!("creating {}", save_dir.display()))?;
        let path = save_dir.join(format!("{stem}.json"));
        Fixture::from_counterexample(c, stem, f.seed, format!("{name} via wlcs sim"))
            .save(&path)?;
        note(&format!(
            "wlcs sim: seed {:#x} saved to {} (replay: {})",
            f.seed,
            path.display(),
            replay.file(&path)
        ));
    }
    Ok(())
}

fn serve(
    addr: std::net::SocketAddr,
    mutant: Option<MutantArg>,
    worlds: usize,
    extra: &wlcs::serve_opts::ServeExtra,
) -> Result<i32> {
    let mutant = mutant.map(|m| m.0);
    let name = match mutant {
        None => "memory (reference)".to_string(),
        Some(m) => format!("memory (mutant {})", m.name()),
    };
    let suts: Vec<Arc<dyn Sut>> = (0..worlds)
        .map(|_| Arc::new(wlcs_sut::mutants::sut(mutant)) as Arc<dyn Sut>)
        .collect();
    serve_blocking(addr, suts, extra.serve_options(), |bound| {
        note(&format!(
            "wlcs: serving {name} on http://{bound} (HARNESS.md v1, {worlds} world(s)); stop \
             with Ctrl-C"
        ));
    })
    .with_context(|| format!("serving on {addr}"))?;
    Ok(0)
}

fn bench(args: BenchArgs) -> Result<i32> {
    let close = match args.close {
        CloseArg::SelfClose => wlcs::bench::CloseKind::SelfClose,
        CloseArg::NonWeb => wlcs::bench::CloseKind::NonWeb,
        CloseArg::Both => wlcs::bench::CloseKind::Both,
    };
    if !(args.duration.is_finite() && args.duration > 0.0) {
        return Err(usage("--duration must be a positive number of seconds").into());
    }
    if let Some(p) = &args.report_json {
        gate::check_output_path("--report-json", p)?;
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
    say(&wlcs::bench::render_text(&report));
    if let Some(path) = &args.report_json {
        write_output(path, &wlcs::bench::render_json(&report))?;
    }
    Ok(0)
}

/// The error and its causes, each cause once (a cause whose text its parent already quotes
/// is not repeated).
fn error_text(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// Usage and input errors exit 3; every other error is the harness's (exit 2).
fn error_code(e: &anyhow::Error) -> u8 {
    let input = e
        .chain()
        .any(|c| c.is::<UsageError>() || c.is::<FixtureError>());
    if input {
        gate::EXIT_USAGE
    } else {
        gate::EXIT_HARNESS
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                gate::EXIT_USAGE
            } else {
                gate::EXIT_CONFORMANT
            });
        }
    };
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Replay(args) => replay(args),
        Command::Mutants(args) => mutants(args),
        Command::Sim(args) => sim(args),
        Command::Serve {
            addr,
            mutant,
            worlds,
            extra,
        } => serve(addr, mutant, usize::from(worlds), &extra),
        Command::Bench(args) => bench(args),
        Command::Coverage(args) => Ok(wlcs::coverage::command(&args)),
        Command::Merge(args) => cli_reports::merge(args),
        Command::Rules(args) => cli_reports::rules(args),
        Command::Explain(args) => cli_reports::explain(args),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(gate::EXIT_HARNESS)),
        Err(e) => {
            note(&format!("wlcs: error: {}", error_text(&e)));
            ExitCode::from(error_code(&e))
        }
    }
}
