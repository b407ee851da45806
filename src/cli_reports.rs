//! The CLI's report side (a module of the binary, not the library): the `--report-*`,
//! `--baseline`, `--write-baseline` and `--strict-baseline` flags, `wlcs merge`, `wlcs rules`
//! and `wlcs explain`. The only place that writes reports; `-` means stdout, and then the
//! terminal table goes to stderr so the stream stays parseable.

use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use wlcs::fixture::Fixture;
use wlcs::gate::{self, usage};
use wlcs::report::{self, Baseline, Report};

/// Report outputs and the expected-failure baseline.
#[derive(Args, Clone, Debug, Default)]
pub struct OutputArgs {
    /// Write the JSON report here (schema 2, schemas/report.schema.json; `-`: stdout).
    #[arg(long, value_name = "PATH")]
    pub report_json: Option<PathBuf>,
    /// Write a JUnit XML report here: a testcase per rule and per fixture (`-`: stdout).
    #[arg(long, value_name = "PATH")]
    pub report_junit: Option<PathBuf>,
    /// Write a Markdown summary here, e.g. "$GITHUB_STEP_SUMMARY" (`-`: stdout).
    #[arg(long, value_name = "PATH")]
    pub report_md: Option<PathBuf>,
    /// Write a single-file HTML report here (`-`: stdout).
    #[arg(long, value_name = "PATH")]
    pub report_html: Option<PathBuf>,
    /// Expected failures, skips and flaky rules (docs/ci/README.md "Baselines"): listed
    /// failures do not fail the run; a new failure does; unexpected passes are reported.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// An unexpected pass (a baselined rule that passed) fails the run.
    #[arg(long)]
    pub strict_baseline: bool,
    /// Write a baseline expecting what this run saw (its failures, warnings and skips).
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
}

fn is_stdout(p: &Path) -> bool {
    p.as_os_str() == "-"
}

impl OutputArgs {
    fn outputs(&self) -> Vec<(&'static str, &PathBuf)> {
        [
            ("--report-json", &self.report_json),
            ("--report-junit", &self.report_junit),
            ("--report-md", &self.report_md),
            ("--report-html", &self.report_html),
            ("--write-baseline", &self.write_baseline),
        ]
        .into_iter()
        .filter_map(|(flag, p)| p.as_ref().map(|p| (flag, p)))
        .collect()
    }

    /// Whether a report goes to stdout (then the table goes to stderr).
    pub fn stdout_taken(&self) -> bool {
        self.outputs().iter().any(|(_, p)| is_stdout(p))
    }

    /// Checks every output before the run starts (usage errors, exit 3): at most one `-`,
    /// and each path writable. Reads the baseline (a bad one is an input error, exit 3).
    pub fn check(&self) -> Result<Option<Baseline>> {
        let outputs = self.outputs();
        let stdout: Vec<&str> = outputs
            .iter()
            .filter(|(_, p)| is_stdout(p))
            .map(|(f, _)| *f)
            .collect();
        if stdout.len() > 1 {
            return Err(usage(format!(
                "only one report can go to stdout (`-`): {}",
                stdout.join(", ")
            ))
            .into());
        }
        for (flag, path) in &outputs {
            gate::check_output_path(flag, path)?;
        }
        self.baseline
            .as_ref()
            .map(|path| {
                let shown = path.display();
                let text = std::fs::read_to_string(path)
                    .map_err(|e| usage(format!("--baseline {shown}: cannot read: {e}")))?;
                Baseline::parse(&text).map_err(|e| usage(format!("--baseline {shown}: {e}")).into())
            })
            .transpose()
    }

    /// Applies the baseline, prints the table and writes every report asked for.
    pub fn finish(&self, report: &mut Report, baseline: Option<Baseline>) -> Result<()> {
        if baseline.is_some() || self.strict_baseline {
            report::baseline::apply(report, baseline, self.strict_baseline);
        }
        let text = report::render_text(report);
        if self.stdout_taken() {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
        self.write(report)
    }

    /// Writes every report asked for.
    pub fn write(&self, report: &Report) -> Result<()> {
        if let Some(p) = &self.report_json {
            emit(p, &report::to_json(report))?;
        }
        if let Some(p) = &self.report_junit {
            let xml = report::junit::to_junit(report).context("rendering JUnit XML")?;
            emit(p, &xml)?;
        }
        if let Some(p) = &self.report_md {
            emit(p, &report::markdown::to_markdown(report))?;
        }
        if let Some(p) = &self.report_html {
            emit(p, &report::html::to_html(report))?;
        }
        if let Some(p) = &self.write_baseline {
            emit(p, &Baseline::from_report(report).to_json())?;
        }
        Ok(())
    }
}

/// Writes text to a path, or to stdout for `-`.
fn emit(path: &Path, text: &str) -> Result<()> {
    if is_stdout(path) {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            // A reader that stopped early (`| head`) is not an error of the run.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => r.context("writing to stdout"),
        }
    } else {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// `wlcs merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// The JSON reports of every partition of one run (`--partition K/N`, K = 1..N).
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Merges partition reports into the unsharded run's report; returns the exit code.
pub fn merge(args: MergeArgs) -> Result<i32> {
    let baseline = args.out.check()?;
    let parts: Vec<Report> = args
        .reports
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .map_err(|e| usage(format!("{}: cannot read: {e}", p.display())))?;
            report::json::from_json(&text)
                .map_err(|e| usage(format!("{}: not a wlcs JSON report: {e}", p.display())))
        })
        .collect::<Result<_, _>>()?;
    let mut merged =
        report::merge::merge(&parts).map_err(|e| usage(format!("merging reports: {e}")))?;
    // The partitions' baseline stays unless another one is given now.
    let baseline = baseline.or_else(|| merged.baseline.clone());
    let strict = args.out.strict_baseline || merged.strict_baseline;
    report::baseline::apply(&mut merged, baseline, strict);
    args.out.finish(&mut merged, None)?;
    Ok(merged.verdict.exit_code())
}

/// `wlcs rules`.
#[derive(Args)]
pub struct RulesArgs {
    /// A fixture directory added to the built-in fixtures.
    #[arg(long)]
    pub fixtures: Option<PathBuf>,
}

/// `wlcs explain ID`.
#[derive(Args)]
pub struct ExplainArgs {
    /// The rule ID, as SPEC.md spells it (`CLOSE-6`; case is ignored).
    pub id: String,
    /// A fixture directory added to the built-in fixtures.
    #[arg(long)]
    pub fixtures: Option<PathBuf>,
}

/// The fixtures to list: the built-in ones, plus a directory's.
fn catalog_fixtures(dir: Option<&Path>) -> Result<Vec<Fixture>> {
    Ok(wlcs::builtin::with_dir(dir)?)
}

/// Prints the rule list.
pub fn rules(args: RulesArgs) -> Result<i32> {
    emit(
        Path::new("-"),
        &wlcs::catalog::render_rules(&catalog_fixtures(args.fixtures.as_deref())?),
    )?;
    Ok(0)
}

/// Prints one rule in full.
pub fn explain(args: ExplainArgs) -> Result<i32> {
    let Some(rule) = wlcs::catalog::parse_rule(&args.id) else {
        let ids: Vec<&str> = wlcs_model::RuleId::ALL.iter().map(|r| r.as_str()).collect();
        return Err(usage(format!(
            "unknown rule {:?}; known: {}",
            args.id,
            ids.join(", ")
        ))
        .into());
    };
    emit(
        Path::new("-"),
        &wlcs::catalog::render_explain(rule, &catalog_fixtures(args.fixtures.as_deref())?),
    )?;
    Ok(0)
}
