//! The report: requests served, errors by kind inside and outside the
//! failover window, RSS at start, middle and end, p99 latency per bucket,
//! and the verdict.

use std::collections::BTreeMap;

use crate::failover::Failover;
use crate::options::Options;
use crate::stats::Record;

/// RSS may grow by this much from the middle to the end.
const RSS_GROWTH: f64 = 1.20;

/// What a run measured.
pub(crate) struct Outcome {
    pub(crate) record: Record,
    /// Seconds the clients ran.
    pub(crate) elapsed: f64,
    /// VmRSS in kB at start, middle and end.
    pub(crate) rss_kb: [u64; 3],
    /// When the failover command was sent (seconds since the start), and
    /// what came of it; `None` without a failover.
    pub(crate) failover: Option<(f64, Result<Failover, String>)>,
}

/// The failover window: from the `CLUSTER FAILOVER` command to the start of
/// the first bucket that begins after it and holds no error (an error at
/// time t is inside when start <= t < end). `None` for the end when no such
/// bucket came before the run ended: the cluster did not recover.
fn window(record: &Record, command_at: f64, bucket: f64, elapsed: f64) -> (f64, Option<f64>) {
    let mut start = (command_at / bucket).ceil() * bucket;
    while start < elapsed {
        let end = start + bucket;
        if !record.errors.iter().any(|e| e.at >= start && e.at < end) {
            return (command_at, Some(start));
        }
        start = end;
    }
    (command_at, None)
}

/// Prints the report; returns whether the run passed.
pub(crate) fn report(opts: &Options, outcome: &Outcome) -> bool {
    let record = &outcome.record;
    let bucket = opts.bucket.as_secs_f64();
    let mut passed = true;
    println!(
        "\n## Soak: 2 sessionware instances on {}, {} clients, {:.0} s\n",
        opts.deployment(),
        opts.clients,
        outcome.elapsed
    );
    println!(
        "Requests served (200): {} ({:.0}/s); errors: {}.",
        record.served,
        record.served as f64 / outcome.elapsed,
        record.errors.len()
    );

    let span = match &outcome.failover {
        None => {
            println!("Failover: none (--no-failover, or one Redis node).");
            None
        }
        Some((at, Err(err))) => {
            println!("Failover: FAILED, command at {at:.2} s: {err}");
            passed = false;
            Some(window(record, *at, bucket, outcome.elapsed))
        }
        Some((at, Ok(failover))) => {
            println!(
                "Failover: `CLUSTER FAILOVER` to {} (replica of {}) at {at:.2} s; it was \
                 master {:.0} ms later ({} command{}).",
                failover.replica,
                failover.master,
                failover.took.as_secs_f64() * 1000.0,
                failover.attempts,
                if failover.attempts == 1 { "" } else { "s" },
            );
            Some(window(record, *at, bucket, outcome.elapsed))
        }
    };
    if let Some((start, end)) = span {
        match end {
            Some(end) => println!(
                "Failover window: {start:.2} s to {end:.2} s (from the command to the start of \
                 the first {bucket:.0}-s bucket after it without errors)."
            ),
            None => {
                println!(
                    "Failover window: from {start:.2} s to the end: no {bucket:.0}-s bucket after \
                     the failover was free of errors (the cluster did not recover)."
                );
                passed = false;
            }
        }
    }
    let inside =
        |at: f64| span.is_some_and(|(start, end)| at >= start && end.is_none_or(|end| at < end));

    // kind -> (inside, outside)
    let mut kinds: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for error in &record.errors {
        let entry = kinds.entry(error.kind.as_str()).or_default();
        if inside(error.at) {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }
    println!("\n| error | inside the failover window | outside |");
    println!("| --- | ---: | ---: |");
    if kinds.is_empty() {
        println!("| (none) | 0 | 0 |");
    }
    for (kind, (inside, outside)) in &kinds {
        println!("| {kind} | {inside} | {outside} |");
    }
    let outside: u64 = kinds.values().map(|(_, outside)| outside).sum();
    for error in record.errors.iter().take(5) {
        println!("  - at {:.2} s: {}", error.at, error.detail);
    }
    if outside > 0 {
        passed = false;
    }

    let [start, middle, end] = outcome.rss_kb;
    let growth = end as f64 / middle.max(1) as f64;
    println!(
        "\nRSS (VmRSS): start {:.1} MiB, middle {:.1} MiB, end {:.1} MiB; end / middle = {growth:.3} \
         (limit {RSS_GROWTH:.2}).",
        start as f64 / 1024.0,
        middle as f64 / 1024.0,
        end as f64 / 1024.0,
    );
    if growth > RSS_GROWTH {
        passed = false;
    }

    println!("\n| bucket ({bucket:.0} s) | requests | errors | p50 ms | p99 ms | max ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for b in record.per_bucket() {
        println!(
            "| {:.0}–{:.0} s | {} | {} | {:.2} | {:.2} | {:.1} |",
            b.start,
            (b.start + bucket).min(outcome.elapsed),
            b.served,
            b.errors,
            b.p50_ms,
            b.p99_ms,
            b.max_ms
        );
    }
    println!("\n(latency bins are 4.4 % wide; each figure is its bin's upper edge)");
    println!();
    if passed {
        println!(
            "PASSED: no error outside the failover window, RSS within {RSS_GROWTH:.2} x the middle's."
        );
    } else {
        println!(
            "FAILED: {outside} errors outside the failover window; RSS end / middle {growth:.3}{}.",
            match &outcome.failover {
                Some((_, Err(_))) => "; the failover failed",
                Some((_, Ok(_))) if span.is_some_and(|(_, end)| end.is_none()) => {
                    "; the cluster did not recover"
                }
                _ => "",
            }
        );
    }
    passed
}
