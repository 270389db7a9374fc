//! The figures of the requests during sweeps: how the traffic was modelled,
//! the latency percentiles of the windows with and without a sweep, and how
//! they are printed and passed from the child process to the parent.

use std::time::Duration;

use crate::Options;
use crate::common::{percentile, verdict};

/// The bound on the requests' p99 during a sweep, relative to without.
pub(crate) const TARGET_RATIO: f64 = 2.0;

/// How the requests come.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `--tasks` tasks, each running requests back to back; a request's
    /// latency is its load and save as timed inside the task.
    Closed,
    /// Requests arrive at `--rate` per second whatever the server's state,
    /// each a task spawned onto the runtime (as a server's connection task
    /// would be); a request's latency runs from its spawn to its saved
    /// record, so it includes the wait for a free worker.
    Open,
}

impl Mode {
    pub(crate) const ALL: [Self; 2] = [Self::Closed, Self::Open];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
        }
    }

    fn describe(self, opts: &Options) -> String {
        match self {
            Self::Closed => format!(
                "closed loop: {} tasks on {} workers, requests back to back, \
                 latency = load + save inside the task",
                opts.tasks, opts.workers
            ),
            Self::Open => format!(
                "open loop: {} requests/s spawned as tasks on {} workers, \
                 latency = spawn to saved (includes waiting for a worker)",
                opts.rate, opts.workers
            ),
        }
    }
}

/// Latency percentiles of one kind of window, pooled over all rounds, in ns.
#[derive(Clone, Copy, Default)]
pub(crate) struct Window {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    /// Requests started per second of window.
    pub(crate) rate: f64,
    pub(crate) requests: f64,
}

impl Window {
    fn of(mut latencies: Vec<u32>, total: Duration) -> Self {
        latencies.sort_unstable();
        Self {
            p50: percentile(&latencies, 50.0),
            p99: percentile(&latencies, 99.0),
            p999: percentile(&latencies, 99.9),
            rate: latencies.len() as f64 / total.as_secs_f64().max(1e-9),
            requests: latencies.len() as f64,
        }
    }
}

/// What the sweep rounds of one mode measured.
#[derive(Clone, Copy)]
pub(crate) struct SweepFigures {
    pub(crate) mode: Mode,
    pub(crate) without: Window,
    pub(crate) with: Window,
    /// The median sweep's duration, and the shortest and longest, in ns.
    pub(crate) sweep_median: f64,
    pub(crate) sweep_min: f64,
    pub(crate) sweep_max: f64,
    /// The median over rounds of each round's p99 with ÷ p99 without.
    pub(crate) round_ratio_median: f64,
    pub(crate) expired: f64,
}

impl SweepFigures {
    /// The pooled p99 with the sweep ÷ without.
    pub(crate) fn ratio(&self) -> f64 {
        self.with.p99 / self.without.p99
    }

    /// Every number, named, for the result line.
    pub(crate) fn fields(&self) -> Vec<(String, f64)> {
        let mode = self.mode.name();
        let mut fields: Vec<(String, f64)> = [
            ("sweep_median", self.sweep_median),
            ("sweep_min", self.sweep_min),
            ("sweep_max", self.sweep_max),
            ("round_ratio_median", self.round_ratio_median),
            ("expired", self.expired),
        ]
        .into_iter()
        .map(|(name, value)| (format!("{mode}_{name}"), value))
        .collect();
        for (prefix, w) in [("without", self.without), ("with", self.with)] {
            for (name, value) in [
                ("p50", w.p50),
                ("p99", w.p99),
                ("p999", w.p999),
                ("rate", w.rate),
                ("requests", w.requests),
            ] {
                fields.push((format!("{mode}_{prefix}_{name}"), value));
            }
        }
        fields
    }

    /// The figures of `mode` back from a result line's fields.
    pub(crate) fn from_fields(mode: Mode, get: &dyn Fn(&str) -> Option<f64>) -> Option<Self> {
        let field = |name: &str| get(&format!("{}_{name}", mode.name()));
        let window = |prefix: &str| {
            Some(Window {
                p50: field(&format!("{prefix}_p50"))?,
                p99: field(&format!("{prefix}_p99"))?,
                p999: field(&format!("{prefix}_p999"))?,
                rate: field(&format!("{prefix}_rate"))?,
                requests: field(&format!("{prefix}_requests"))?,
            })
        };
        Some(Self {
            mode,
            without: window("without")?,
            with: window("with")?,
            sweep_median: field("sweep_median")?,
            sweep_min: field("sweep_min")?,
            sweep_max: field("sweep_max")?,
            round_ratio_median: field("round_ratio_median")?,
            expired: field("expired")?,
        })
    }

    pub(crate) fn print(&self, opts: &Options) {
        let (us, ms) = (|ns: f64| ns / 1e3, |ns: f64| ns / 1e6);
        println!(
            "  requests during delete_expired, {}; {} sessions held, {} of them expired, \
             {} rounds of a window exactly as long as one sweep and one as long without it:",
            self.mode.describe(opts),
            opts.sessions,
            self.expired,
            opts.rounds
        );
        println!(
            "    sweep    {:.1} ms median ({:.1} to {:.1} ms), {} removed each",
            ms(self.sweep_median),
            ms(self.sweep_min),
            ms(self.sweep_max),
            self.expired
        );
        for (name, w) in [("without", self.without), ("with", self.with)] {
            println!(
                "    {name:<8} p50 {:8.2} µs  p99 {:8.2} µs  p99.9 {:8.2} µs  \
                 ({} requests, {:.0}/s)",
                us(w.p50),
                us(w.p99),
                us(w.p999),
                w.requests,
                w.rate
            );
        }
        println!(
            "    p99 with ÷ without {:.2}× (median of the rounds' ratios {:.2}×), \
             target ≤ {TARGET_RATIO}×: {}",
            self.ratio(),
            self.round_ratio_median,
            verdict(self.ratio(), TARGET_RATIO)
        );
    }
}

/// Pools the samples by kind of window, and computes each round's ratio.
pub(crate) fn summarize(
    mode: Mode,
    samples: &[(u32, u32)],
    lengths: &[(Duration, Duration)],
    expired: usize,
) -> SweepFigures {
    let rounds = lengths.len();
    let mut by_window = vec![Vec::new(); 2 * rounds + 1];
    for &(window, nanos) in samples {
        by_window[window as usize].push(nanos);
    }
    let mut ratios: Vec<f64> = (0..rounds)
        .map(|r| {
            let mut p99 = [0.0; 2];
            for (value, window) in p99.iter_mut().zip([2 * r + 1, 2 * r + 2]) {
                by_window[window].sort_unstable();
                *value = percentile(&by_window[window], 99.0);
            }
            p99[1] / p99[0]
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let pool = |offset: usize| -> Vec<u32> {
        (0..rounds)
            .flat_map(|r| by_window[2 * r + offset].iter().copied())
            .collect()
    };
    let mut swept: Vec<f64> = lengths.iter().map(|&(_, s)| s.as_nanos() as f64).collect();
    swept.sort_by(f64::total_cmp);
    SweepFigures {
        mode,
        without: Window::of(pool(1), lengths.iter().map(|&(w, _)| w).sum()),
        with: Window::of(pool(2), lengths.iter().map(|&(_, s)| s).sum()),
        sweep_median: swept.get(rounds / 2).copied().unwrap_or_default(),
        sweep_min: swept.first().copied().unwrap_or_default(),
        sweep_max: swept.last().copied().unwrap_or_default(),
        round_ratio_median: ratios.get(rounds / 2).copied().unwrap_or_default(),
        expired: expired as f64,
    }
}

/// The Markdown table of the sweep figures, and the verdicts.
pub(crate) fn table(all: &[SweepFigures], opts: &Options, big: &str) {
    println!(
        "\n| sessionware, {big} held, {}% expired | sweep | p50 | p99 | p99.9 | requests/s |",
        opts.expired
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    let us = |ns: f64| ns / 1e3;
    for s in all {
        for (name, w, took) in [
            ("without the sweep", s.without, String::from("–")),
            (
                "during the sweep",
                s.with,
                format!("{:.1} ms", s.sweep_median / 1e6),
            ),
        ] {
            println!(
                "| {} loop, {name} | {took} | {:.2} µs | {:.2} µs | {:.2} µs | {:.0} |",
                s.mode.name(),
                us(w.p50),
                us(w.p99),
                us(w.p999),
                w.rate
            );
        }
    }
    println!();
    for s in all {
        println!(
            "sessionware, {} loop: requests' p99 {:.2}× during the sweep \
             (median of the rounds' ratios {:.2}×), target ≤ {TARGET_RATIO}×: {}",
            s.mode.name(),
            s.ratio(),
            s.round_ratio_median,
            verdict(s.ratio(), TARGET_RATIO)
        );
    }
}
