//! The `MemoryStore` at scale: resident memory per session, the time per
//! `create`, `load` and `save` with a million sessions held against a
//! thousand, and the requests' latency while `delete_expired` sweeps a
//! million sessions.
//!
//! From `perf/`:
//!
//! ```text
//! cargo bench --bench scale                              # both stores, about half a minute
//! cargo bench --bench scale -- --store sessionware       # one store
//! cargo bench --bench scale -- --sessions 200000 --ops 50000
//! cargo bench --bench scale -- --rounds 0                # skip the sweep under load
//! cargo bench --bench scale -- --rounds 20 --tasks 8 --rate 100000 --expired 10
//! ```
//!
//! Each store is measured in a child process of its own, so one store's freed
//! memory cannot hide the other's growth; the parent relays what each child
//! prints, then sums up in Markdown tables. Every time is wall-clock
//! (`Instant`), on whatever else the machine is running: read the medians.
//!
//! **Memory and create.** A child creates `--sessions` sessions (default
//! 1,000,000) through the store trait, each holding about 100 bytes of JSON
//! data under a key derived from SHA-256 of a counter, and reads `VmRSS` from
//! `/proc/self/status` before and after: the difference divided by the count
//! is the resident cost of one session (the keys the benchmark itself keeps
//! are allocated before the first reading). sessionware's target is at most
//! 350 bytes. For sessionware it then times one `delete_expired` that finds
//! nothing to remove.
//!
//! **Load and save at a million against a thousand** (target: at most 1.5×).
//! A second store of `--small` sessions (default 1,000) is filled after the
//! memory readings. Then `--ops` loads (default 100,000) are timed at each
//! size in `--batches` batches (default 10), the sizes alternating batch by
//! batch so that the machine's drift touches both alike, after one untimed
//! batch of each; then as many saves the same way. Every batch draws its
//! random sessions (and, for saves, their expected versions) before its clock
//! starts, so both sizes time the same operations on the same access pattern
//! and only the store's work. It prints the median batch's and the mean time
//! per operation, and the ratio of the medians, large ÷ small.
//! sessionware's saves are versioned (conditional on the expected version);
//! tower-sessions' are unconditional overwrites, its store having no versions.
//!
//! **Requests during a sweep** (sessionware only, tower-sessions' store has
//! no `delete_expired`; target: the requests' p99 during a sweep at most 2×
//! their p99 without). The million sessions are kept; `--expired` percent of
//! them (default 10) are replaced by sessions whose deadline passed a second
//! ago. Requests run on a tokio multi-thread runtime of `--workers` workers
//! (default 2); each loads a random live session, changes one value and saves
//! it one version up. Each of `--rounds` rounds (default 10) runs
//! `delete_expired` as a task on the same runtime, as `CleanupTask` does; the
//! sweep's window opens and closes with the sweep itself, so it lasts exactly
//! one sweep. After a 50 ms pause, a window of the same measured length
//! without any sweep follows; then the expired sessions are created again
//! for the next round. A request counts in the window it started in. The
//! percentiles are pooled over the rounds, and the median of the rounds' own
//! p99 ratios is printed too. The traffic is modelled twice, one after the
//! other on the same store:
//!
//! - *closed loop*: `--tasks` tasks (default 4) run requests back to back,
//!   yielding between them; the latency is the load and save as timed inside
//!   the task. This is the store's own share of a request, and the requests
//!   per second show the capacity left during the sweep; but a task that
//!   cannot run (its worker busy sweeping) issues no request, so its wait is
//!   never seen.
//! - *open loop*: a thread spawns `--rate` requests per second (default
//!   50,000; 0 skips this model) as tasks onto the runtime, as a server's
//!   connection tasks are, whatever the runtime's state; the latency runs
//!   from the spawn to the saved record, so it includes the wait for a free
//!   worker. This is what clients would see, and the figure for the target.
//!
//! `MemoryStore::delete_expired`, as written today, never yields: it holds one
//! worker for its whole duration, and each of the 64 shards' locks while it
//! scans that shard.

// The crate root is `benches/scale.rs`, so its modules are found by path.
#[path = "scale/common.rs"]
mod common;
#[path = "scale/latency.rs"]
mod latency;
#[path = "scale/ours.rs"]
mod ours;
#[path = "scale/sweep.rs"]
mod sweep;
#[path = "scale/tower.rs"]
mod tower;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::{Command, ExitCode};
use std::time::Duration;

use common::{OpCosts, Stats, verdict};
use latency::{Mode, SweepFigures};

/// sessionware's budget of resident memory per session, in bytes.
const TARGET_BYTES_PER_SESSION: f64 = 350.0;

pub(crate) struct Options {
    store: Option<String>,
    pub(crate) sessions: usize,
    ops: usize,
    pub(crate) small: usize,
    pub(crate) batches: usize,
    pub(crate) rounds: usize,
    pub(crate) tasks: usize,
    pub(crate) workers: usize,
    pub(crate) expired: usize,
    pub(crate) rate: usize,
}

impl Options {
    fn from_args() -> Self {
        // `cargo bench` passes `--bench`; anything we do not know is ignored.
        let args: Vec<String> = std::env::args().skip(1).collect();
        let value = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        let number = |name: &str, default: usize| {
            value(name).map_or(default, |v| {
                v.replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
            })
        };
        Self {
            store: value("--store"),
            sessions: number("--sessions", 1_000_000).max(1),
            ops: number("--ops", 100_000).max(1),
            small: number("--small", 1_000).max(1),
            batches: number("--batches", 10).max(1),
            rounds: number("--rounds", 10),
            tasks: number("--tasks", 4).max(1),
            workers: number("--workers", 2).max(1),
            expired: number("--expired", 10).clamp(1, 99),
            rate: number("--rate", 50_000),
        }
    }

    /// The arguments that make a child measure `store` as asked here.
    fn child_args(&self, store: &str) -> Vec<String> {
        let mut args = vec!["--store".to_owned(), store.to_owned()];
        for (name, value) in [
            ("--sessions", self.sessions),
            ("--ops", self.ops),
            ("--small", self.small),
            ("--batches", self.batches),
            ("--rounds", self.rounds),
            ("--tasks", self.tasks),
            ("--workers", self.workers),
            ("--expired", self.expired),
            ("--rate", self.rate),
        ] {
            args.extend([name.to_owned(), value.to_string()]);
        }
        args
    }

    /// Operations per timed batch.
    pub(crate) fn per_batch(&self) -> usize {
        (self.ops / self.batches).max(1)
    }
}

/// A count as the tables print it: 1000 as 1k, 1000000 as 1M.
fn count(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// What one store measured.
pub(crate) struct Figures {
    store: &'static str,
    data_bytes: usize,
    rss_before: u64,
    rss_after: u64,
    peak: u64,
    create: Duration,
    /// One `delete_expired` with nothing expired (sessionware only).
    idle_sweep: Option<Duration>,
    ops: OpCosts,
    /// The requests during sweeps, one entry per mode measured.
    sweeps: Vec<SweepFigures>,
}

impl Figures {
    fn bytes_per_session(&self, sessions: usize) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / sessions as f64
    }

    /// Every number, named, for the line the parent process parses.
    fn fields(&self) -> Vec<(String, f64)> {
        let o = &self.ops;
        let mut fields: Vec<(String, f64)> = [
            ("data_bytes", self.data_bytes as f64),
            ("rss_before", self.rss_before as f64),
            ("rss_after", self.rss_after as f64),
            ("peak", self.peak as f64),
            ("create_ns", self.create.as_nanos() as f64),
            ("load_small_median", o.load_small.median),
            ("load_small_mean", o.load_small.mean),
            ("load_big_median", o.load_big.median),
            ("load_big_mean", o.load_big.mean),
            ("save_small_median", o.save_small.median),
            ("save_small_mean", o.save_small.mean),
            ("save_big_median", o.save_big.median),
            ("save_big_mean", o.save_big.mean),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        if let Some(idle) = self.idle_sweep {
            fields.push(("idle_sweep_ns".into(), idle.as_nanos() as f64));
        }
        for sweep in &self.sweeps {
            fields.extend(sweep.fields());
        }
        fields
    }

    /// One line the parent process parses.
    fn to_line(&self) -> String {
        let mut line = format!("RESULT {}", self.store);
        for (name, value) in self.fields() {
            let _ = write!(line, " {name}={value}");
        }
        line
    }

    fn from_line(line: &str) -> Option<Self> {
        let mut parts = line.strip_prefix("RESULT ")?.split(' ');
        let store = match parts.next()? {
            "sessionware" => "sessionware",
            "tower-sessions" => "tower-sessions",
            _ => return None,
        };
        let map: HashMap<&str, f64> = parts
            .filter_map(|part| {
                let (name, value) = part.split_once('=')?;
                Some((name, value.parse().ok()?))
            })
            .collect();
        let get = |name: &str| map.get(name).copied();
        let nanos = |name: &str| get(name).map(|ns| Duration::from_nanos(ns as u64));
        let stats = |name: &str| {
            Some(Stats {
                median: get(&format!("{name}_median"))?,
                mean: get(&format!("{name}_mean"))?,
            })
        };
        let sweeps = Mode::ALL
            .into_iter()
            .filter_map(|mode| SweepFigures::from_fields(mode, &get))
            .collect();
        Some(Self {
            store,
            data_bytes: get("data_bytes")? as usize,
            rss_before: get("rss_before")? as u64,
            rss_after: get("rss_after")? as u64,
            peak: get("peak")? as u64,
            create: nanos("create_ns")?,
            idle_sweep: nanos("idle_sweep_ns"),
            ops: OpCosts {
                load_small: stats("load_small")?,
                load_big: stats("load_big")?,
                save_small: stats("save_small")?,
                save_big: stats("save_big")?,
            },
            sweeps,
        })
    }

    fn print(&self, opts: &Options) {
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        println!(
            "{} MemoryStore: {} sessions of {} bytes of JSON data",
            self.store, opts.sessions, self.data_bytes
        );
        println!(
            "  RSS   {:.1} MiB before, {:.1} MiB after (peak {:.1} MiB): {:.0} bytes per session",
            mib(self.rss_before),
            mib(self.rss_after),
            mib(self.peak),
            self.bytes_per_session(opts.sessions),
        );
        println!(
            "  create {:7.0} ns/op  ({} creates into a growing store)",
            self.create.as_nanos() as f64 / opts.sessions as f64,
            opts.sessions
        );
        if let Some(idle) = self.idle_sweep {
            println!(
                "  sweep  {:7.1} ms     (delete_expired over {} live sessions, none expired)",
                idle.as_secs_f64() * 1000.0,
                opts.sessions
            );
        }
        self.ops
            .print(opts.small, opts.sessions, opts.batches, opts.per_batch());
        for sweep in &self.sweeps {
            sweep.print(opts);
        }
    }
}

/// Runs this benchmark again for one store, relays what it prints and reads
/// its result line.
fn child(opts: &Options, store: &str) -> Option<Figures> {
    let output = Command::new(std::env::current_exe().ok()?)
        .args(opts.child_args(store))
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!(
            "scale: the {store} run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut figures = None;
    for line in stdout.lines() {
        match Figures::from_line(line) {
            Some(parsed) => figures = Some(parsed),
            None => println!("{line}"),
        }
    }
    figures
}

fn main() -> ExitCode {
    let opts = Options::from_args();
    let figures = match opts.store.as_deref() {
        Some("sessionware") => ours::measure(&opts),
        Some("tower-sessions") => tower::measure(&opts),
        Some(other) => {
            eprintln!("--store: expected sessionware or tower-sessions, got {other}");
            return ExitCode::FAILURE;
        }
        None => return compare(&opts),
    };
    figures.print(&opts);
    println!("{}", figures.to_line());
    ExitCode::SUCCESS
}

fn compare(opts: &Options) -> ExitCode {
    let mut all = Vec::new();
    for store in ["sessionware", "tower-sessions"] {
        match child(opts, store) {
            Some(figures) => all.push(figures),
            None => return ExitCode::FAILURE,
        }
    }
    let (small, big) = (count(opts.small), count(opts.sessions));
    println!(
        "\n| store ({big} sessions) | RSS per session | create | load {small} | load {big} \
         | load {big} ÷ {small} | save {small} | save {big} | save {big} ÷ {small} |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for f in &all {
        let (load, save) = f.ops.ratios();
        println!(
            "| {} | {:.0} B | {:.0} ns | {:.0} ns | {:.0} ns | {load:.2}× | {:.0} ns | {:.0} ns | {save:.2}× |",
            f.store,
            f.bytes_per_session(opts.sessions),
            f.create.as_nanos() as f64 / opts.sessions as f64,
            f.ops.load_small.median,
            f.ops.load_big.median,
            f.ops.save_small.median,
            f.ops.save_big.median,
        );
    }
    let ours = &all[0];
    let bytes = ours.bytes_per_session(opts.sessions);
    let (load, save) = ours.ops.ratios();
    println!(
        "\nsessionware: {bytes:.0} bytes per session, target ≤ {TARGET_BYTES_PER_SESSION:.0}: {}",
        verdict(bytes, TARGET_BYTES_PER_SESSION)
    );
    println!(
        "sessionware: load {load:.2}× and save {save:.2}× at {big} against {small} (medians), \
         target ≤ {}×: {} and {}",
        common::TARGET_RATIO,
        verdict(load, common::TARGET_RATIO),
        verdict(save, common::TARGET_RATIO)
    );
    if !ours.sweeps.is_empty() {
        latency::table(&ours.sweeps, opts, &big);
    }
    ExitCode::SUCCESS
}
