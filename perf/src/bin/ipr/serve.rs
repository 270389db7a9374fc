//! `ipr serve`: one app on 127.0.0.1, on a current-thread tokio runtime, so
//! that everything the server does runs on one thread.

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::serve::ListenerExt as _;
use sessionware_perf::apps::{self, Impl};
use sessionware_perf::redis_bridge::Bridge;
use tokio::net::TcpListener;
use tower_sessions_redis_store::fred::prelude::{ClientLike as _, Config, Pool};

use crate::args::Args;

/// The idle timeout of the Redis apps (both implementations): what a killed
/// run leaves in Redis expires after it. sessionware pushes a deadline back
/// on a read only after a tenth of it (6 minutes), longer than any cell.
/// The memory apps keep each library's default expiry.
pub(crate) const REDIS_IDLE: Duration = Duration::from_secs(3600);

/// Where the sessions live.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Store {
    Memory,
    Redis,
}

impl Store {
    pub(crate) const ALL: [Store; 2] = [Store::Memory, Store::Redis];

    pub(crate) fn key(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Redis => "redis",
        }
    }

    pub(crate) fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// The Redis server: `REDIS_URL`, else `redis://127.0.0.1:6379`.
pub(crate) fn default_redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix for sessionware's `RedisStore` unique to this process.
pub(crate) fn unique_prefix() -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("ipr-{}-{millis}:sessionware:", std::process::id())
}

pub(crate) const USAGE: &str = "\
usage: ipr serve --impl bare|tower-sessions|sessionware --store memory|redis [--port N]
                 [--redis-url URL] [--redis-prefix PREFIX] [--workers 1] [--watch-stdin]
Serves /plain, /read, /write and /login on 127.0.0.1:N (N = 0: any free port) on one
thread, and prints `listening on 127.0.0.1:PORT` once it accepts connections.
--watch-stdin: exit when standard input closes (how `ipr measure` makes sure no
server outlives it).";

struct Options {
    implementation: Impl,
    store: Store,
    port: u16,
    redis_url: String,
    redis_prefix: String,
    watch_stdin: bool,
}

impl Options {
    fn parse(args: Vec<String>) -> Result<Self, String> {
        let args = Args::new(
            args,
            &[
                "impl",
                "store",
                "port",
                "redis-url",
                "redis-prefix",
                "workers",
            ],
            &["watch-stdin"],
        )?;
        let implementation = args
            .value("impl")
            .ok_or("--impl is required")
            .and_then(|key| {
                Impl::from_key(key).ok_or("--impl: bare, tower-sessions or sessionware")
            })?;
        let store = Store::from_key(args.value("store").unwrap_or("memory"))
            .ok_or("--store: memory or redis")?;
        if args.parsed("workers", 1usize)? != 1 {
            return Err(
                "--workers: the server runs on one thread (a current-thread runtime)".into(),
            );
        }
        Ok(Self {
            implementation,
            store,
            port: args.parsed("port", 0u16)?,
            redis_url: args
                .value("redis-url")
                .map_or_else(default_redis_url, str::to_owned),
            redis_prefix: args
                .value("redis-prefix")
                .map_or_else(unique_prefix, str::to_owned),
            watch_stdin: args.flag("watch-stdin"),
        })
    }
}

/// The app under test.
async fn app(opts: &Options) -> Result<Router, String> {
    Ok(match (opts.implementation, opts.store) {
        (Impl::Bare, _) => apps::bare(),
        (Impl::TowerSessions, Store::Memory) => {
            apps::tower_sessions(tower_sessions::MemoryStore::default(), None)
        }
        (Impl::Sessionware, Store::Memory) => {
            apps::sessionware(sessionware::MemoryStore::new(), None)
        }
        (Impl::TowerSessions, Store::Redis) => {
            // One connection, as sessionware's `RedisStore` has.
            let config = Config::from_url(&opts.redis_url).map_err(|e| e.to_string())?;
            let pool = Pool::new(config, None, None, None, 1).map_err(|e| e.to_string())?;
            pool.init()
                .await
                .map_err(|e| format!("cannot connect to Redis: {e}"))?;
            apps::tower_sessions(Bridge::new(pool, None), Some(REDIS_IDLE))
        }
        (Impl::Sessionware, Store::Redis) => {
            let store = sessionware::RedisStore::connect(&opts.redis_url)
                .await
                .map_err(|e| e.to_string())?
                .key_prefix(opts.redis_prefix.as_str());
            apps::sessionware(store, Some(REDIS_IDLE))
        }
    })
}

/// Runs `ipr serve` until killed (or, with `--watch-stdin`, until standard
/// input closes).
pub(crate) fn run(args: Vec<String>) -> Result<(), String> {
    let opts = Options::parse(args)?;
    if opts.watch_stdin {
        // A thread blocked in read(2) executes nothing, so it adds nothing to
        // the instruction counts.
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime.block_on(async {
        let router = app(&opts).await?;
        let listener = TcpListener::bind(("127.0.0.1", opts.port))
            .await
            .map_err(|e| format!("bind 127.0.0.1:{}: {e}", opts.port))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on {addr}")
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("stdout: {e}"))?;
        drop(stdout);
        axum::serve(listener, router)
            .await
            .map_err(|e| format!("server: {e}"))
    })
}
