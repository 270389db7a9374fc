//! HTTP load test: bare axum, axum + tower-sessions 0.15 and axum + sessionware,
//! served side by side on 127.0.0.1 and loaded in one run.
//!
//! From `perf/`:
//!
//! ```text
//! cargo run --release --bin loadtest
//! cargo run --release --bin loadtest -- --duration 5 --rounds 5 --connections 64
//! ```
//!
//! Every app has the same four routes:
//!
//! * `/ignore`: the handler does not take the session (a valid cookie is sent);
//! * `/read`: reads key `n` of an existing session;
//! * `/write`: reads `n` and writes `n + 1`;
//! * `/new`: inserts `n`; no cookie is sent, so every request creates a session.
//!
//! Before each measurement every connection gets a session of its own from
//! the app under test (one `GET /write`), then sends that cookie on every
//! request (`--shared-session` makes all connections share one session, to
//! show contention on one record). Against bare axum a dummy cookie of the
//! same length is sent, so every app parses the same headers.
//!
//! The matrix (scenario x app) runs `--rounds` times; within a round the app
//! order rotates from scenario to scenario, so slow drift of the machine
//! affects every app alike. Each cell is `--warmup` seconds unmeasured, then
//! `--duration` seconds measured, with `--connections` keep-alive HTTP/1.1
//! connections each sending one request at a time. Every response is checked
//! for status 200; anything else, and any I/O or protocol error, is a failure,
//! and a run with failures says so at the end and exits with status 1.
//!
//! It prints Markdown: per scenario the median requests/s of each app and the
//! ratios tower-sessions/bare and sessionware/bare against the targets; then
//! the median server CPU time per request (from `/proc`, server threads only,
//! so the load client's own CPU use does not blur the comparison) and each
//! layer's cost over bare axum; then how busy server and client threads were,
//! and how much CPU other programs took meanwhile (read from `/proc/stat`; a
//! run that competed with other work says so, as its ratios are then noisy).
//!
//! The server and the client run on separate tokio runtimes
//! (`--server-threads`, default 1, and `--client-threads`, default 1), so on a
//! two-core machine each has a core. The default client (`--client raw`)
//! writes pre-built requests and parses responses with `httparse`, so that it
//! costs much less CPU than the server; `--client hyper` uses hyper's HTTP/1
//! client connections instead, as a cross-check. Check the busy-cores table:
//! when the server threads are near 1.00 the server is the bottleneck and the
//! throughput ratios are cost ratios; if the client is the busier side, the
//! ratios are squeezed towards 1.
//!
//! A default run (36 cells) takes about two minutes.
//!
//! On a shared machine, `--retry-disturbed N` (default 0) measures a cell
//! again, up to N times, while other programs kept more than 0.15 cores busy
//! during it, and keeps the least disturbed attempt (failures of every attempt
//! still count); the progress lines show every attempt.
//!
//! For profiling, `--only APP/SCENARIO` (for example `--only sessionware/read`)
//! loads that one cell `--rounds` times and prints no table; run it under
//! `perf record` and look at the `lt-server` threads.
//!
//! Every option can also be given as an environment variable: `LOADTEST_`
//! followed by the option name in capitals, `-` as `_` (for example
//! `LOADTEST_DURATION=5`).
//!
//! The parts: `options` (the command line), `apps` (the servers under test and
//! the scenarios), `client` (the HTTP load client), `cpu` (`/proc` sampling),
//! `cell` (one measured cell), `report` (progress lines and tables),
//! `redis_apps` (the Redis variants, one node or a cluster), `redis_report`
//! (their tables), `cache` (the read cache's set-up and counts) and
//! `physical` (`redis-benchmark`). The
//! session layers' configuration, the tower-sessions 0.14 bridge and the
//! Redis clean-up are in this crate's library (`src/layers.rs`,
//! `src/redis_bridge.rs`, `src/redis_cleanup.rs`, `src/redis_cluster.rs`),
//! shared with the `ipr` and `soak` binaries.
//!
//! # Redis
//!
//! ```text
//! cargo run --release --bin loadtest -- --redis
//! ```
//!
//! `--redis` (or `LOADTEST_REDIS=1`) adds three apps to the rotation:
//! tower-sessions 0.15 over `tower-sessions-redis-store` 0.16 (GET, SET NX/XX
//! with EXAT, MessagePack records; on a `fred` pool of `--redis-pool`
//! connections, default 1), sessionware over its
//! `RedisStore` (GET, SET NX, Lua save script; one multiplexed
//! `ConnectionManager` connection), and sessionware with the read cache
//! (below). Both pools then hold one connection, and
//! both clients pipeline concurrent commands on it. A second table compares
//! them with bare axum, gives the ratios sessionware ÷ tower-sessions per
//! route (medians of the rounds), and checks sessionware + Redis against 1.5
//! times tower-sessions + Redis on `/read`, `/write` and `/new`.
//!
//! `tower-sessions-redis-store` 0.16, its latest release, implements the
//! `SessionStore` trait of tower-sessions-core 0.14, which is identical to
//! 0.15's; a small bridge in `src/redis_bridge.rs` adapts it (it copies the
//! record's map once per create or save, a fraction of a microsecond).
//!
//! A third app, sessionware + Redis + cache, is the same `RedisStore` with
//! its opt-in local read cache (`with_read_cache(ReadCache::new())`, one more
//! connection: the cache's pub/sub subscriber); each of its progress lines
//! ends with the cache's hits and misses during the cell (warm-up and cookie
//! set-up included), and the report sums them per scenario.
//!
//! The server is `--redis-url`, else `REDIS_URL`, else
//! `redis://127.0.0.1:6379`. Nothing is flushed: sessionware's keys carry a
//! prefix unique to the run (`loadtest-<pid>-<ms>:sessionware:`), and
//! tower-sessions-redis-store, which has no key prefix, stores bare random
//! 128-bit session ids, which the bridge records as they are created. At the
//! end both sets are deleted (`SCAN MATCH` on the prefix, `UNLINK` by id);
//! should the run be killed, every key still expires on its own after the
//! sessions' idle timeout (10 minutes, or longer for long cells, so that no
//! read refreshes a deadline during a measurement). The Redis server's CPU
//! time is read with `INFO cpu` around every cell: it is shown in the Redis
//! table, and when the server is local it is not counted as "other programs".
//!
//! # Redis Cluster
//!
//! ```text
//! cargo run --release --bin loadtest -- --redis-cluster redis://127.0.0.1:7000,redis://127.0.0.1:7001
//! ```
//!
//! `--redis-cluster URL,URL,...` (or `LOADTEST_REDIS_CLUSTER`) adds the same
//! three apps on a Redis Cluster, alone or beside `--redis`: sessionware's
//! `RedisStore::connect_cluster(urls)` (redis-rs's cluster client: one
//! multiplexed connection per master carries the commands; it also holds an
//! idle one to each replica), and tower-sessions-redis-store on a `fred`
//! pool of `--redis-pool` clients configured with `ServerConfig::Clustered`
//! and every URL given (each fred client opens one connection per master, and
//! one idle connection for the slot map). So with the default pool of 1 both
//! send their commands on one connection per master. Its tables and its Redis
//! CPU (summed over every node, replicas too) follow the one-node tables.
//! sessionware's keys get the run's prefix; the clean-up `SCAN`s every master
//! and deletes each key on its own node.
//!
//! # The physical limit
//!
//! Before the cells, for each Redis deployment, `redis-benchmark -h HOST -p
//! PORT -t get,set -n 200000 -c CONNECTIONS -q` (with `--cluster` on a
//! cluster, against the first URL's node) measures what Redis itself serves
//! with as many clients as the load test has connections; its GET and SET
//! rates are printed above that deployment's table, and a second table gives
//! each app's requests/s as a share of the GET rate. `--redis-benchmark N`
//! sets `-n`, 0 skips it. It needs Debian's `redis-tools`; the keys it
//! writes (`key:__rand_int__`, on a cluster `key:{TAG}:__rand_int__`) are
//! deleted after it.

mod apps;
mod cache;
mod cell;
mod client;
mod cpu;
mod options;
mod physical;
mod redis_apps;
mod redis_report;
mod report;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

use crate::apps::{
    APPS, App, Deployment, SCENARIOS, Scenario, bare_app, sessionware_app, tower_sessions_app,
};
use crate::cell::{Cell, run_cell};
use crate::client::ClientKind;
use crate::options::Options;
use crate::report::{print_cell, redacted, report};

pub(crate) const SERVER_THREAD: &str = "lt-server";
pub(crate) const CLIENT_THREAD: &str = "lt-client";

/// Busy cores outside this process above which a run is called disturbed.
pub(crate) const DISTURBED: f64 = 0.15;

fn runtime(threads: usize, name: &'static str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Binds an ephemeral port on 127.0.0.1 and serves `app` there.
fn serve(rt: &tokio::runtime::Runtime, app: Router) -> SocketAddr {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            axum::serve(listener, app).await.expect("server failed");
        });
        addr
    })
}

fn main() -> ExitCode {
    let opts = Options::from_env();
    let apps: Vec<App> = APPS
        .into_iter()
        .filter(|app| app.deployment().is_none_or(|d| opts.has(d)))
        // With `--only`, that app alone is built.
        .filter(|&app| opts.only.is_none_or(|(only, _)| only == app))
        .collect();
    let server_rt = runtime(opts.server_threads, SERVER_THREAD);
    let client_rt = runtime(opts.client_threads, CLIENT_THREAD);

    // The Redis stores are built on the server runtime, so that their
    // connection tasks run (and are counted) on the server threads; the probe
    // that reads the Redis servers' CPU time runs on the client runtime.
    let mut redis = Vec::new();
    for deployment in [Deployment::Node, Deployment::Cluster] {
        if !opts.has(deployment) {
            continue;
        }
        let deployed = redis_apps::Redis::new(&opts, deployment);
        match client_rt.block_on(deployed.probe()) {
            Ok(probe) => redis.push((deployed, probe)),
            Err(err) => {
                eprintln!("loadtest: {}: {err}", deployment.name());
                return ExitCode::from(2);
            }
        }
    }
    let mut addrs = Vec::with_capacity(apps.len());
    // The store of each app with a read cache, for its hit and miss counts.
    let mut cached = Vec::with_capacity(apps.len());
    for &app in &apps {
        let (router, store) = match (app, app.deployment()) {
            (App::Bare, _) => (bare_app(), None),
            (App::TowerSessions, _) => (
                tower_sessions_app(tower_sessions::MemoryStore::default(), None),
                None,
            ),
            (App::Sessionware, _) => (sessionware_app(sessionware::MemoryStore::new(), None), None),
            (_, deployment) => {
                let (deployed, _) = redis
                    .iter()
                    .find(|(r, _)| Some(r.deployment()) == deployment)
                    .expect("Redis apps are only listed with their deployment");
                match server_rt.block_on(deployed.app(app, opts.idle_timeout())) {
                    Ok(built) => (built.router, built.cached),
                    Err(err) => {
                        eprintln!("loadtest: {}: {err}", app.name());
                        return ExitCode::from(2);
                    }
                }
            }
        };
        addrs.push(serve(&server_rt, router));
        cached.push(store);
    }
    // The probe of an app's own Redis; the in-memory apps get the first, so
    // that the report can tell other clients' load on it.
    let probes: Vec<Option<&redis_apps::Probe>> = apps
        .iter()
        .map(|app| {
            redis
                .iter()
                .find(|(r, _)| app.deployment().is_none_or(|d| d == r.deployment()))
                .map(|(_, probe)| probe)
        })
        .collect();
    // One cell of app `a`, with its cache's counts.
    let measure = |a: usize, scenario: Scenario| {
        let before = cached[a].as_ref().and_then(cache::counts);
        let mut cell = client_rt.block_on(run_cell(addrs[a], scenario, &opts, probes[a]));
        let after = cached[a].as_ref().and_then(cache::counts);
        if let (Some(before), Some(after)) = (before, after) {
            cell.cache = Some((after.0 - before.0, after.1 - before.1));
        }
        cell
    };

    let cells = SCENARIOS.len() * apps.len() * opts.rounds;
    eprintln!(
        "loadtest: {cells} cells of {:.1} s + {:.1} s warm-up, {} connections, \
         {} server / {} client threads, {} client{}; about {:.0} s",
        opts.duration.as_secs_f64(),
        opts.warmup.as_secs_f64(),
        opts.connections,
        opts.server_threads,
        opts.client_threads,
        if opts.client == ClientKind::Raw {
            "raw"
        } else {
            "hyper"
        },
        if opts.shared_session {
            ", one shared session"
        } else {
            ""
        },
        cells as f64 * (opts.duration + opts.warmup).as_secs_f64(),
    );
    for (deployed, _) in &redis {
        eprintln!(
            "loadtest: {} at {}; tower-sessions-redis-store on a fred pool of {} \
             connection(s){}, sessionware RedisStore on 1 multiplexed connection{} \
             (+1 pub/sub connection with the read cache)",
            deployed.deployment().name(),
            deployed
                .urls()
                .iter()
                .map(|url| redacted(url))
                .collect::<Vec<_>>()
                .join(","),
            opts.redis_pool,
            if deployed.deployment() == Deployment::Cluster {
                " per master"
            } else {
                ""
            },
            if deployed.deployment() == Deployment::Cluster {
                " per master"
            } else {
                ""
            },
        );
    }

    let failed = if let Some((app, scenario)) = opts.only {
        let a = apps.iter().position(|&x| x == app).expect("known app");
        let mut failed = false;
        for round in 0..opts.rounds {
            let cell = measure(a, scenario);
            print_cell(round, scenario, app, &cell);
            for sample in &cell.failures.samples {
                println!("FAILURE: {sample}");
            }
            failed |= cell.failures.count > 0;
        }
        failed
    } else {
        // The physical limit of each Redis, before the cells.
        let mut physical = Vec::new();
        for (deployed, _) in &redis {
            let measured = (opts.redis_benchmark > 0).then(|| {
                let measured = client_rt.block_on(physical::redis_benchmark(
                    deployed.deployment(),
                    deployed.urls(),
                    opts.connections,
                    opts.redis_benchmark,
                ));
                match &measured {
                    Ok(p) => eprintln!(
                        "loadtest: {}: `{}`: GET {:.0}/s, SET {:.0}/s",
                        deployed.deployment().name(),
                        p.command,
                        p.get,
                        p.set
                    ),
                    Err(err) => eprintln!("loadtest: {err}"),
                }
                measured
            });
            physical.push((deployed.deployment(), measured));
        }
        // results[scenario][app] = one Cell per round.
        let mut results: Vec<Vec<Vec<Cell>>> = SCENARIOS
            .iter()
            .map(|_| apps.iter().map(|_| Vec::new()).collect())
            .collect();
        for round in 0..opts.rounds {
            for (s, &scenario) in SCENARIOS.iter().enumerate() {
                for offset in 0..apps.len() {
                    let a = (round + s + offset) % apps.len();
                    let mut cell = measure(a, scenario);
                    print_cell(round, scenario, apps[a], &cell);
                    // On a shared machine, measure a disturbed cell again and
                    // keep the least disturbed attempt (and every failure).
                    for _ in 0..opts.retry_disturbed {
                        if cell.foreign_busy <= DISTURBED {
                            break;
                        }
                        let again = measure(a, scenario);
                        print_cell(round, scenario, apps[a], &again);
                        let (mut kept, dropped) = if again.foreign_busy < cell.foreign_busy {
                            (again, cell)
                        } else {
                            (cell, again)
                        };
                        kept.failures.merge(dropped.failures);
                        cell = kept;
                    }
                    results[s][a].push(cell);
                }
            }
        }
        report(&opts, &apps, &mut results, &physical)
    };
    for (deployed, probe) in &redis {
        match client_rt.block_on(deployed.cleanup(probe)) {
            Ok(summary) => eprintln!("loadtest: Redis clean-up: {summary}"),
            Err(err) => eprintln!(
                "loadtest: Redis clean-up failed ({}): {err}",
                deployed.deployment().name()
            ),
        }
    }
    server_rt.shutdown_timeout(Duration::from_secs(1));
    client_rt.shutdown_timeout(Duration::from_secs(1));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
