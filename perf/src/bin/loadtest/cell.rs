//! One cell: one app loaded on one scenario for the warm-up and the
//! measurement, with the CPU time of every party around it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::apps::Scenario;
use crate::client::{Conn, Failures, MEASURE, Prepared, STOP, WARMUP, drive, fetch_cookie};
use crate::cpu::{machine_and_own_cpu, thread_cpu};
use crate::options::Options;
use crate::redis_apps;
use crate::{CLIENT_THREAD, SERVER_THREAD};

/// The result of one (round, scenario, app) cell.
pub(crate) struct Cell {
    pub(crate) requests_per_s: f64,
    /// Server CPU time per successful request.
    pub(crate) server_cpu_us: f64,
    /// Busy cores, server and client threads.
    pub(crate) server_busy: f64,
    pub(crate) client_busy: f64,
    /// Busy cores outside this process: other programs disturbing the run
    /// (a local Redis server not included).
    pub(crate) foreign_busy: f64,
    /// Busy cores of the Redis server (`INFO cpu`; a cluster's nodes
    /// summed), NaN without `--redis` or `--redis-cluster`.
    pub(crate) redis_busy: f64,
    /// The read cache's hits and misses during the cell (warm-up and
    /// cookie set-up included), for the apps with a cache.
    pub(crate) cache: Option<(u64, u64)>,
    pub(crate) failures: Failures,
}

pub(crate) async fn run_cell(
    addr: SocketAddr,
    scenario: Scenario,
    opts: &Options,
    probe: Option<&redis_apps::Probe>,
) -> Cell {
    let mut failures = Failures::default();
    let mut conns = Vec::with_capacity(opts.connections);
    for _ in 0..opts.connections {
        match Conn::open(addr, opts.client).await {
            Ok(conn) => conns.push(conn),
            Err(err) => failures.add(err),
        }
    }
    let mut requests = Vec::with_capacity(conns.len());
    let mut shared = None;
    for conn in &mut conns {
        let cookie = if !scenario.sends_cookie() {
            None
        } else if opts.shared_session && shared.is_some() {
            shared.clone()
        } else {
            match fetch_cookie(conn, addr, &mut failures).await {
                Ok(cookie) => Some(cookie),
                Err(err) => {
                    failures.add(format!("cookie setup: {err}"));
                    None
                }
            }
        };
        if opts.shared_session {
            shared.clone_from(&cookie);
        }
        requests.push(Prepared::new(addr, scenario.path(), cookie));
    }

    let phase = Arc::new(AtomicU8::new(WARMUP));
    let tasks: Vec<_> = conns
        .into_iter()
        .zip(requests)
        .map(|(conn, request)| {
            tokio::spawn(drive(conn, addr, opts.client, request, Arc::clone(&phase)))
        })
        .collect();
    tokio::time::sleep(opts.warmup).await;
    let (server_before, client_before) = (thread_cpu(SERVER_THREAD), thread_cpu(CLIENT_THREAD));
    let (machine_before, own_before) = machine_and_own_cpu();
    let redis_before = redis_cpu(probe).await;
    let started = Instant::now();
    phase.store(MEASURE, Ordering::Relaxed);
    tokio::time::sleep(opts.duration).await;
    phase.store(STOP, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let server_cpu = (thread_cpu(SERVER_THREAD) - server_before).as_secs_f64();
    let client_cpu = (thread_cpu(CLIENT_THREAD) - client_before).as_secs_f64();
    let (machine_after, own_after) = machine_and_own_cpu();
    let redis_after = redis_cpu(probe).await;
    let redis = match (redis_before, redis_after) {
        (Some(before), Some(after)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let mut foreign = (machine_after.saturating_sub(machine_before))
        .saturating_sub(own_after.saturating_sub(own_before));
    if let Some(redis) = redis.filter(|_| probe.is_some_and(|p| p.local())) {
        foreign = foreign.saturating_sub(redis);
    }
    let foreign_cpu = foreign.as_secs_f64();

    let mut ok = 0;
    for task in tasks {
        match task.await {
            Ok((count, task_failures)) => {
                ok += count;
                failures.merge(task_failures);
            }
            Err(err) => failures.add(format!("client task panicked: {err}")),
        }
    }
    Cell {
        requests_per_s: ok as f64 / elapsed,
        server_cpu_us: if ok == 0 {
            f64::NAN
        } else {
            server_cpu * 1e6 / ok as f64
        },
        server_busy: server_cpu / elapsed,
        client_busy: client_cpu / elapsed,
        foreign_busy: foreign_cpu / elapsed,
        redis_busy: redis.map_or(f64::NAN, |cpu| cpu.as_secs_f64() / elapsed),
        cache: None,
        failures,
    }
}

/// The Redis server's CPU time so far, when there is a probe and it answers.
async fn redis_cpu(probe: Option<&redis_apps::Probe>) -> Option<Duration> {
    match probe {
        Some(probe) => probe.cpu().await,
        None => None,
    }
}
