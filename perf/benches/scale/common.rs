//! What every part of the benchmark shares: keys, session data, resident
//! memory, random indexes and the statistics of timed batches.

use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A `/proc/self/status` field in bytes (`VmRSS`, `VmHWM`).
pub(crate) fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// The key bytes of session `i`: SHA-256 of the counter, as real keys are digests.
pub(crate) fn digest(i: usize) -> [u8; 32] {
    Sha256::digest((i as u64).to_le_bytes()).into()
}

/// About 100 bytes of JSON, the shape of a typical login session.
pub(crate) fn sample_data() -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("user_id".into(), Value::from(1_234_567u64));
    data.insert("name".into(), Value::from("user-0001234567"));
    data.insert("role".into(), Value::from("member"));
    data.insert(
        "csrf".into(),
        Value::from("3f9c2a7d41e85b06c1d7e2f0a9b3c4d5"),
    );
    data.insert("n".into(), Value::from(0u64));
    data
}

/// A small, fast generator of random indexes (xorshift64*).
#[derive(Clone)]
pub(crate) struct Random(pub(crate) u64);

impl Random {
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % n
    }
}

/// The cost of one operation over several timed batches, in nanoseconds.
#[derive(Clone, Copy, Default)]
pub(crate) struct Stats {
    /// The median batch's time per operation.
    pub(crate) median: f64,
    /// Total time over total operations.
    pub(crate) mean: f64,
}

impl Stats {
    /// The figures of `batches`, each of `per_batch` operations.
    pub(crate) fn of(batches: &[Duration], per_batch: usize) -> Self {
        let mut per_op: Vec<f64> = batches
            .iter()
            .map(|took| took.as_nanos() as f64 / per_batch as f64)
            .collect();
        per_op.sort_by(f64::total_cmp);
        let median = match per_op.len() {
            0 => 0.0,
            n if n % 2 == 1 => per_op[n / 2],
            n => (per_op[n / 2 - 1] + per_op[n / 2]) / 2.0,
        };
        let mean = per_op.iter().sum::<f64>() / per_op.len().max(1) as f64;
        Self { median, mean }
    }
}

/// Load and save at a small and at a large store: the figures of target 1.
#[derive(Clone, Copy, Default)]
pub(crate) struct OpCosts {
    pub(crate) load_small: Stats,
    pub(crate) load_big: Stats,
    pub(crate) save_small: Stats,
    pub(crate) save_big: Stats,
}

/// The bound on the cost of load and save at a million sessions
/// relative to a thousand.
pub(crate) const TARGET_RATIO: f64 = 1.5;

/// "met" or "MISSED" against an upper bound.
pub(crate) fn verdict(value: f64, bound: f64) -> &'static str {
    if value <= bound { "met" } else { "MISSED" }
}

impl OpCosts {
    /// Median-based ratios large ÷ small: (load, save).
    pub(crate) fn ratios(&self) -> (f64, f64) {
        (
            self.load_big.median / self.load_small.median,
            self.save_big.median / self.save_small.median,
        )
    }

    pub(crate) fn print(&self, small: usize, big: usize, batches: usize, per_batch: usize) {
        println!(
            "  load and save with {small} and with {big} sessions held \
             ({batches} batches of {per_batch} random sessions per op and size, \
             sizes alternating; ns/op, median batch [mean]):"
        );
        println!(
            "    {:<5} {:>16} {:>16}   {big} ÷ {small} (target ≤ {TARGET_RATIO}×)",
            "", small, big
        );
        let (load, save) = self.ratios();
        for (name, at_small, at_big, ratio) in [
            ("load", self.load_small, self.load_big, load),
            ("save", self.save_small, self.save_big, save),
        ] {
            println!(
                "    {name:<5} {:>7.0} [{:>6.0}] {:>7.0} [{:>6.0}]   {ratio:.2}× {} (means: {:.2}×)",
                at_small.median,
                at_small.mean,
                at_big.median,
                at_big.mean,
                verdict(ratio, TARGET_RATIO),
                at_big.mean / at_small.mean,
            );
        }
    }
}

/// Runs `small` and `big` (each times one batch) alternately, after one
/// untimed warm-up of each, so the machine's drift touches both sizes alike.
pub(crate) fn alternate(
    batches: usize,
    mut small: impl FnMut() -> Duration,
    mut big: impl FnMut() -> Duration,
) -> (Vec<Duration>, Vec<Duration>) {
    small();
    big();
    (0..batches).map(|_| (small(), big())).unzip()
}

/// The `p`th percentile (0 to 100) of sorted nanoseconds, nearest rank.
pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1])
}
