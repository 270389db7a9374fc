//! `ipr measure`: every store x route x implementation in a server of its own
//! under callgrind, and the Markdown tables.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::PoisonError;
use std::time::Instant;

use sessionware_perf::apps::{Impl, Route, dummy_cookie};

use crate::args::Args;
use crate::callgrind::{Server, total_instructions};
use crate::client::{Client, Reply};
use crate::interrupt::{self, Pending};
use crate::redis_keys::RedisKeys;
use crate::report::{Results, print_tables};
use crate::serve::{Store, default_redis_url};
use crate::sha::{Sha, compressions};

pub(crate) const USAGE: &str = "\
usage: ipr measure [--n 1500] [--repeat 1] [--warmup 300] [--pool 64]
                   [--stores memory,redis] [--impls bare,tower-sessions,sessionware]
                   [--routes plain,read,write,login] [--redis-url URL] [--out DIR]
For each store, route and implementation: starts `ipr serve` under callgrind,
creates --pool sessions through /login, sends --warmup requests to the route,
zeroes the counters, sends --n keep-alive requests (every reply must be 200),
dumps, and divides the server's instructions by --n; with --repeat R, does so
in R servers and keeps the median. Prints Markdown tables.
Dumps go to --out (default: target/ipr under perf/).";

/// One cell's figures, per request.
#[derive(Clone)]
pub(crate) struct Measured {
    /// The server's instructions.
    pub(crate) instructions: f64,
    /// SHA-256 compressions.
    pub(crate) sha_calls: f64,
    /// Instructions in them.
    pub(crate) sha_instructions: f64,
    /// The function counted.
    pub(crate) sha_symbol: String,
}

struct Options {
    n: usize,
    /// Servers per cell; the median is kept.
    repeat: usize,
    warmup: usize,
    pool: usize,
    stores: Vec<Store>,
    impls: Vec<Impl>,
    routes: Vec<Route>,
    redis_url: String,
    out: PathBuf,
}

impl Options {
    fn parse(args: Vec<String>) -> Result<Self, String> {
        let args = Args::new(
            args,
            &[
                "n",
                "repeat",
                "warmup",
                "pool",
                "stores",
                "impls",
                "routes",
                "redis-url",
                "out",
            ],
            &[],
        )?;
        Ok(Self {
            n: args.parsed("n", 1500usize)?.max(1),
            repeat: args.parsed("repeat", 1usize)?.max(1),
            warmup: args.parsed("warmup", 300usize)?,
            pool: args.parsed("pool", 64usize)?.max(1),
            stores: args.list("stores", Store::from_key, &Store::ALL)?,
            impls: args.list("impls", Impl::from_key, &Impl::ALL)?,
            routes: args.list("routes", Route::from_key, &Route::ALL)?,
            redis_url: args
                .value("redis-url")
                .map_or_else(default_redis_url, str::to_owned),
            out: args.value("out").map_or_else(
                || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ipr"),
                PathBuf::from,
            ),
        })
    }
}

/// Runs `ipr measure`; `Ok(false)` when a cell failed.
pub(crate) fn run(args: Vec<String>) -> Result<bool, String> {
    let opts = Options::parse(args)?;
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let redis = if opts.stores.contains(&Store::Redis) {
        Some(RedisKeys::new(&opts.redis_url)?)
    } else {
        None
    };
    let cells = opts.stores.len() * opts.routes.len() * opts.impls.len();
    eprintln!(
        "ipr: {cells} cells of {} x {} requests ({} sessions, {} warm-up requests); dumps in {}",
        opts.repeat,
        opts.n,
        opts.pool,
        opts.warmup,
        opts.out.display()
    );
    if let Some(redis) = &redis {
        eprintln!("ipr: Redis keys of sessionware under {}*", redis.prefix());
    }
    let pending = Pending::default();
    interrupt::watch(redis.clone(), Pending::clone(&pending))?;
    let started = Instant::now();
    let mut results: Results = HashMap::new();
    for &store in &opts.stores {
        for &route in &opts.routes {
            for &implementation in &opts.impls {
                let mut runs = Vec::with_capacity(opts.repeat);
                for _ in 0..opts.repeat {
                    let cell_started = Instant::now();
                    // tower-sessions' Redis records are filed under the cookies' values.
                    let keep = (store == Store::Redis && implementation == Impl::TowerSessions)
                        .then_some(&pending);
                    let result = cell(
                        &opts,
                        &exe,
                        redis.as_ref(),
                        store,
                        route,
                        implementation,
                        keep,
                    );
                    let seconds = cell_started.elapsed().as_secs_f64();
                    progress(store, route, implementation, &result, seconds);
                    if let Some(redis) = redis.as_ref().filter(|_| store == Store::Redis) {
                        let mut ids = std::mem::take(
                            &mut *pending.lock().unwrap_or_else(PoisonError::into_inner),
                        );
                        ids.sort_unstable();
                        ids.dedup();
                        match redis.delete(&ids) {
                            Ok(summary) => eprintln!("        Redis clean-up: {summary}"),
                            Err(err) => eprintln!("        Redis clean-up failed: {err}"),
                        }
                    }
                    runs.push(result);
                }
                let result = median(runs);
                results.insert((store, route, implementation), result);
            }
        }
    }
    eprintln!(
        "ipr: {cells} cells in {:.0} s ({:.1} s per server)",
        started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() / (cells * opts.repeat) as f64
    );
    print_tables(
        &opts.stores,
        &opts.routes,
        &opts.impls,
        opts.n,
        opts.repeat,
        &results,
    );
    Ok(results.values().all(Result::is_ok))
}

/// The run with the median instruction count (the lower of the two middle
/// ones for an even count), or the first failure.
fn median(runs: Vec<Result<Measured, String>>) -> Result<Measured, String> {
    let mut measured = runs.into_iter().collect::<Result<Vec<_>, _>>()?;
    measured.sort_by(|a, b| a.instructions.total_cmp(&b.instructions));
    let middle = (measured.len() - 1) / 2;
    Ok(measured.swap_remove(middle))
}

fn progress(
    store: Store,
    route: Route,
    implementation: Impl,
    result: &Result<Measured, String>,
    seconds: f64,
) {
    let what = format!(
        "{:6} {:7} {:15}",
        store.key(),
        route.path(),
        implementation.key()
    );
    match result {
        Ok(m) if m.sha_calls > 0.0 => eprintln!(
            "ipr: {what} {:>9.0} instructions/request; SHA-256: {:.2} compressions, \
             {:.0} instructions ({:.1} %); {seconds:.1} s",
            m.instructions,
            m.sha_calls,
            m.sha_instructions,
            100.0 * m.sha_instructions / m.instructions
        ),
        Ok(m) => eprintln!(
            "ipr: {what} {:>9.0} instructions/request; no SHA-256; {seconds:.1} s",
            m.instructions
        ),
        Err(err) => eprintln!("ipr: {what} FAILED: {err}"),
    }
}

/// Whether `reply` is what `route` answers when all is well.
fn check(implementation: Impl, route: Route, reply: &Reply) -> Result<(), String> {
    if reply.status != 200 {
        return Err(format!(
            "{} answered {} {:?}",
            route.path(),
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ));
    }
    if implementation == Impl::Bare {
        return Ok(());
    }
    match route {
        Route::Login if reply.cookie.is_none() => Err("/login set no cookie".into()),
        Route::Read | Route::Write
            if std::str::from_utf8(&reply.body)
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
                .is_none() =>
        {
            Err(format!(
                "{} answered {:?}, not a number",
                route.path(),
                String::from_utf8_lossy(&reply.body)
            ))
        }
        _ => Ok(()),
    }
}

/// One cell; with `keep`, the value of every cookie the server sets is
/// pushed there.
fn cell(
    opts: &Options,
    exe: &std::path::Path,
    redis: Option<&RedisKeys>,
    store: Store,
    route: Route,
    implementation: Impl,
    keep: Option<&Pending>,
) -> Result<Measured, String> {
    let mut args: Vec<String> = vec![
        "--impl".into(),
        implementation.key().into(),
        "--store".into(),
        store.key().into(),
    ];
    if let (Store::Redis, Some(redis)) = (store, redis) {
        args.extend([
            "--redis-url".into(),
            opts.redis_url.clone(),
            "--redis-prefix".into(),
            redis.prefix().to_owned(),
        ]);
    }
    let out = opts.out.join(format!(
        "cg.{}.{}.{}",
        store.key(),
        route.key(),
        implementation.key()
    ));
    // Dropping `server`, on any return, kills valgrind.
    let mut server = Server::start(exe, &args, &out)?;
    let mut client = Client::connect(server.addr())?;
    let mut get = |path: &str, cookie: Option<&str>| -> Result<Reply, String> {
        let reply = client.get(path, cookie)?;
        if let (Some(keep), Some((_, value))) = (
            keep,
            reply
                .cookie
                .as_deref()
                .and_then(|pair| pair.split_once('=')),
        ) {
            keep.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(value.to_owned());
        }
        Ok(reply)
    };

    // The pool of sessions; bare axum gets a dummy cookie of the same size.
    let pool: Vec<String> = if implementation == Impl::Bare {
        vec![dummy_cookie()]
    } else {
        (0..opts.pool)
            .map(|_| {
                let reply = get(Route::Login.path(), None)?;
                check(implementation, Route::Login, &reply)?;
                Ok(reply.cookie.unwrap_or_default())
            })
            .collect::<Result<_, String>>()?
    };
    let cookie = |i: usize| route.sends_cookie().then(|| pool[i % pool.len()].as_str());

    for i in 0..opts.warmup {
        let reply = get(route.path(), cookie(i))?;
        check(implementation, route, &reply).map_err(|e| format!("warm-up: {e}"))?;
    }

    server.zero()?;
    let mut failures = 0usize;
    let mut first_failure = None;
    for i in 0..opts.n {
        let reply = get(route.path(), cookie(i))?;
        if let Err(err) = check(implementation, route, &reply) {
            failures += 1;
            first_failure.get_or_insert(err);
        }
    }
    let dump = server.dump()?;
    drop(server);
    if let Some(first) = first_failure {
        return Err(format!(
            "{failures} of {} replies failed; the first: {first}",
            opts.n
        ));
    }

    let n = opts.n as f64;
    let total = total_instructions(&dump)?;
    let Sha {
        symbol,
        calls,
        instructions,
    } = compressions(&dump)?;
    Ok(Measured {
        instructions: total as f64 / n,
        sha_calls: calls as f64 / n,
        sha_instructions: instructions as f64 / n,
        sha_symbol: symbol,
    })
}
