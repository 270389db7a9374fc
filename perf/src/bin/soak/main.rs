//! Soak run: two sessionware instances under mixed traffic for minutes, with
//! a Redis Cluster failover in the middle.
//!
//! From `perf/`:
//!
//! ```text
//! cargo run --release --bin soak                        # 10 minutes on the cluster
//! cargo run --release --bin soak -- --duration 60       # what CI runs
//! cargo run --release --bin soak -- --redis-url redis://127.0.0.1:6379 --duration 60
//! ```
//!
//! Two app instances (`app`), each a `SessionLayer` over a `RedisStore` of
//! its own (its own connections) with a `CleanupTask` beside it, as two
//! replicas of an application would run, are served on two loopback ports of
//! this process; they share the secret (one per process), so each accepts
//! the other's cookies. By default they use the Redis Cluster on
//! 127.0.0.1:7000-7005 (`--redis-cluster URL,URL,...`), with `--redis-url`
//! one node instead.
//!
//! `--clients` (64) simulated users (`client`) each keep a cookie jar of
//! their own and alternate between the two instances, one request at a time
//! for `--duration` seconds (600): 70 % `/read`, 20 % `/write`, 5 %
//! `/login/user-N` (`Session::login`, a fresh id) and 5 % `/logout`
//! (`Session::logout`, the record deleted and the cookie dropped). Anything
//! but a 200 is an error, counted by kind: `status N`, `connection` (connect,
//! read or write failed, or the server closed the connection) or `timeout`
//! (no response within `--timeout`, 10 s).
//!
//! In the middle, just after the RSS is read, one master is failed over
//! (`failover`): `CLUSTER FAILOVER` is sent to its replica, which takes the
//! master's slots over; `--no-failover` skips it (and there is none with
//! `--redis-url`). The failover window runs from the command to the start of
//! the first bucket after it without errors.
//!
//! The report (`report`): requests served, errors by kind inside and outside
//! the window, `VmRSS` at start (after set-up), middle and end (when the
//! clients stop), and p50, p99 and the maximum latency per bucket of
//! `--bucket` seconds (60, or 10 for runs shorter than 5 minutes). The exit
//! status is 1 if any error happened outside the failover window, if no
//! bucket after the failover was free of errors, if the failover failed, or
//! if the RSS at the end exceeds the RSS in the middle by more than 20 %.
//!
//! The sessions' keys carry a prefix unique to the run (`soak-PID-MS:`) and
//! are deleted at the end; what a killed run leaves expires after 15 minutes.

mod app;
mod client;
mod failover;
mod options;
mod report;
mod rss;
mod stats;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sessionware_perf::{redis_cleanup, redis_cluster};

use crate::options::Options;
use crate::report::{Outcome, report};
use crate::rss::rss_kb;
use crate::stats::Record;

/// How often each instance's `CleanupTask` runs.
const CLEANUP_EVERY: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> ExitCode {
    let opts = Options::from_env();
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let prefix = format!("soak-{}-{millis}:", std::process::id());

    let mut addrs = Vec::new();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let store = match app::store(&opts, &prefix).await {
            Ok(store) => store,
            Err(err) => {
                eprintln!("soak: cannot connect to the {}: {err}", opts.deployment());
                return ExitCode::from(2);
            }
        };
        match app::serve(store, CLEANUP_EVERY).await {
            Ok(instance) => {
                addrs.push(instance.addr);
                instances.push(instance);
            }
            Err(err) => {
                eprintln!("soak: cannot serve: {err}");
                return ExitCode::from(2);
            }
        }
    }
    let addrs = [addrs[0], addrs[1]];
    if opts.failover
        && let Err(err) = failover::check(&opts.cluster).await
    {
        eprintln!("soak: {err}");
        return ExitCode::from(2);
    }
    eprintln!(
        "soak: instances on {} and {} over the {}; {} clients for {:.0} s{}",
        addrs[0],
        addrs[1],
        opts.deployment(),
        opts.clients,
        opts.duration.as_secs_f64(),
        if opts.failover {
            ", one failover in the middle"
        } else {
            ""
        }
    );

    let records: Vec<Record> = (0..opts.clients)
        .map(|_| Record::new(opts.duration, opts.bucket))
        .collect();
    let rss_start = rss_kb();
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let clients: Vec<_> = records
        .into_iter()
        .enumerate()
        .map(|(user, record)| {
            tokio::spawn(client::run(
                user,
                addrs,
                start,
                opts.timeout,
                Arc::clone(&stop),
                record,
            ))
        })
        .collect();

    let middle = start + opts.duration / 2;
    let end = start + opts.duration;
    progress_until(start, middle, opts.bucket).await;
    let rss_middle = rss_kb();
    let failover = if opts.failover {
        let at = start.elapsed().as_secs_f64();
        eprintln!("soak: {at:.1} s: CLUSTER FAILOVER");
        let urls = opts.cluster.clone();
        Some((at, tokio::spawn(async move { failover::run(&urls).await })))
    } else {
        None
    };
    progress_until(start, end, opts.bucket).await;
    stop.store(true, Ordering::Relaxed);
    let rss_end = rss_kb();
    let elapsed = start.elapsed().as_secs_f64();

    let mut record = Record::new(opts.duration, opts.bucket);
    for client in clients {
        match client.await {
            Ok(one) => record.merge(one),
            Err(err) => eprintln!("soak: a client panicked: {err}"),
        }
    }
    record.errors.sort_by(|a, b| a.at.total_cmp(&b.at));
    let failover = match failover {
        None => None,
        Some((at, task)) => Some((at, task.await.unwrap_or_else(|e| Err(e.to_string())))),
    };
    let passed = report(
        &opts,
        &Outcome {
            record,
            elapsed,
            rss_kb: [rss_start, rss_middle, rss_end],
            failover,
        },
    );

    drop(instances);
    let deleted = match &opts.redis_url {
        Some(url) => match redis_cluster::node_connection(url).await {
            Ok(mut connection) => redis_cleanup::unlink_prefixed(&mut connection, &prefix).await,
            Err(err) => Err(err),
        },
        None => redis_cluster::unlink_prefixed(&opts.cluster, &prefix).await,
    };
    match deleted {
        Ok(count) => eprintln!("soak: deleted {count} keys ({prefix}*)"),
        Err(err) => eprintln!("soak: clean-up of {prefix}* failed: {err}"),
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Sleeps until `until`, printing the elapsed time every `every`.
async fn progress_until(start: Instant, until: Instant, every: Duration) {
    loop {
        let now = Instant::now();
        if now >= until {
            return;
        }
        let next = (now + every).min(until);
        tokio::time::sleep_until(next.into()).await;
        eprintln!(
            "soak: {:.0} s, RSS {:.1} MiB",
            start.elapsed().as_secs_f64(),
            rss_kb() as f64 / 1024.0
        );
    }
}
