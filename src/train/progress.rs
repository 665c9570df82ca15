//! Progress of a training run: a bar on a terminal, one plain line per logged step when
//! stderr goes to a file, a pipe or CI (a bar there would be thousands of redraws).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    first: usize,
    total: usize,
    started: Instant,
}

/// 75 s -> "1m15s".
fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

impl Progress {
    /// Progress from step `first` to `total`.
    pub fn new(first: usize, total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} eta {eta}")
                    .expect("valid template"),
            );
            bar.set_position(first as u64);
            bar
        });
        Progress {
            bar,
            first,
            total,
            started: Instant::now(),
        }
    }

    pub fn advance(&self, step: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(step as u64);
        }
    }

    /// The latest figures: the bar's message, or a line of their own.
    pub fn report(&self, step: usize, figures: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(figures.to_string()),
            None => {
                let done = step.saturating_sub(self.first).max(1) as f64;
                let left = self.total.saturating_sub(step) as f64;
                let eta = self.started.elapsed().mul_f64(left / done);
                eprintln!(
                    "step {step}/{} {figures} eta {}",
                    self.total,
                    short_duration(eta)
                );
            }
        }
    }

    /// A line that must stay visible (a warning, a checkpoint on Ctrl-C).
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
