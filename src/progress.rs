//! Progress of a run on stderr: an indicatif bar on a terminal (cases, steps/s, divergences
//! so far, ETA), and in CI (stderr not a terminal) a plain line every few seconds, so a run
//! against a slow target is never silent for minutes. Nothing is drawn for runs that finish
//! before the first line is due.

use crate::runner::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Seconds between two plain progress lines when stderr is not a terminal.
pub const PLAIN_EVERY_MS: u64 = 5_000;
/// The bar is updated at most this often (the run calls after every case).
const BAR_EVERY_MS: u64 = 100;
/// The bar appears only after this long (a second-long run draws nothing).
const BAR_DELAY_MS: u64 = 300;

/// Shows a run's progress.
pub struct Display {
    bar: Option<ProgressBar>,
    terminal: bool,
    started: Instant,
    last: Instant,
    unit: &'static str,
}

impl Display {
    /// A display for a run of `unit`s (`cases`, `seeds`): a bar when stderr is a terminal.
    pub fn new(unit: &'static str) -> Display {
        let now = Instant::now();
        Display {
            bar: None,
            terminal: std::io::stderr().is_terminal(),
            started: now,
            last: now,
            unit,
        }
    }

    fn rate(&self, steps: u64) -> f64 {
        steps as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    /// Takes the latest counts; draws when due.
    pub fn update(&mut self, p: &Progress) {
        let done = p.fixtures_done as u64 + p.cases_done;
        let total = p.fixtures_total as u64 + p.cases_total;
        let now = Instant::now();
        if self.terminal {
            if now.duration_since(self.last) < Duration::from_millis(BAR_EVERY_MS)
                || self.started.elapsed() < Duration::from_millis(BAR_DELAY_MS)
            {
                return;
            }
            self.last = now;
            let unit = self.unit;
            let rate = self.rate(p.steps);
            let bar = self.bar.get_or_insert_with(|| {
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
                let template = format!(
                    "{{bar:30}} {{pos}}/{{len}} {unit} ({{percent}}%) {{msg}}, ETA {{eta}}"
                );
                if let Ok(style) = ProgressStyle::with_template(&template) {
                    bar.set_style(style);
                }
                bar
            });
            bar.set_length(total);
            bar.set_position(done);
            bar.set_message(format!(
                "{rate:.0} steps/s, {} divergences, {} harness errors",
                p.divergences, p.errors
            ));
        } else if now.duration_since(self.last) >= Duration::from_millis(PLAIN_EVERY_MS) {
            self.last = now;
            let elapsed = self.started.elapsed().as_secs_f64();
            let eta = if done > 0 {
                format!(
                    "{:.0} s",
                    elapsed * (total.saturating_sub(done)) as f64 / done as f64
                )
            } else {
                "unknown".into()
            };
            let _ = writeln!(
                std::io::stderr(),
                "wlcs: {done}/{total} {} after {elapsed:.0} s, {:.0} steps/s, {} divergences, {} harness errors, ETA {eta}",
                self.unit,
                self.rate(p.steps),
                p.divergences,
                p.errors
            );
        }
    }

    /// Removes the bar (the report follows).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.finish();
    }
}
