//! The command line: options as flags or `LOADTEST_` environment variables.

use std::time::Duration;

use sessionware_perf::cli::{option, parsed};

use crate::apps::{APPS, App, Deployment, SCENARIOS, Scenario};
use crate::client::ClientKind;

pub(crate) struct Options {
    pub(crate) duration: Duration,
    pub(crate) warmup: Duration,
    pub(crate) connections: usize,
    pub(crate) rounds: usize,
    pub(crate) server_threads: usize,
    pub(crate) client_threads: usize,
    pub(crate) client: ClientKind,
    pub(crate) shared_session: bool,
    /// Load one app on one scenario only (for profiling): no table.
    pub(crate) only: Option<(App, Scenario)>,
    /// Add the two Redis apps.
    pub(crate) redis: bool,
    pub(crate) redis_url: String,
    /// Connections in tower-sessions-redis-store's `fred` pool (on a cluster,
    /// per master).
    pub(crate) redis_pool: usize,
    /// Node URLs of a Redis Cluster: adds the cluster apps when not empty.
    pub(crate) redis_cluster: Vec<String>,
    /// Requests per test of the `redis-benchmark` run beside the Redis
    /// tables; 0 skips it.
    pub(crate) redis_benchmark: usize,
    /// How many times a cell disturbed by other programs is measured again.
    pub(crate) retry_disturbed: usize,
}

/// The prefix of the environment variables that stand for options.
const ENV: &str = "LOADTEST";

impl Options {
    pub(crate) fn from_env() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "--help" || a == "-h") {
            println!(
                "usage: loadtest [--duration SECS] [--warmup SECS] [--connections N] [--rounds N]\n\
                 \x20               [--server-threads N] [--client-threads N] [--client raw|hyper]\n\
                 \x20               [--shared-session] [--only APP/SCENARIO]\n\
                 \x20               [--redis] [--redis-url URL] [--redis-pool N] [--retry-disturbed N]\n\
                 \x20               [--redis-cluster URL,URL,...] [--redis-benchmark N]\n\
                 APP: bare, tower-sessions, sessionware, tower-sessions-redis, sessionware-redis,\n\
                 \x20    sessionware-redis-cache, tower-sessions-cluster, sessionware-cluster or\n\
                 \x20    sessionware-cluster-cache; SCENARIO: ignore, read, write or new.\n\
                 --redis needs a Redis server (--redis-url), --redis-cluster a Redis Cluster\n\
                 (for example redis://127.0.0.1:7000,redis://127.0.0.1:7001); both run\n\
                 redis-benchmark -t get,set -n N (--redis-benchmark, default 200000; 0: skip)."
            );
            std::process::exit(0);
        }
        let client = match option(&args, ENV, "client").as_deref() {
            None | Some("raw") => ClientKind::Raw,
            Some("hyper") => ClientKind::Hyper,
            Some(other) => panic!("--client: expected raw or hyper, got {other:?}"),
        };
        let flag = |name: &str| {
            let var = format!("LOADTEST_{}", name.to_uppercase().replace('-', "_"));
            args.iter().any(|a| *a == format!("--{name}"))
                || std::env::var(var).is_ok_and(|v| v != "0")
        };
        let shared_session = flag("shared-session");
        let only = option(&args, ENV, "only").map(|text| {
            let (app, scenario) = text.split_once('/').unwrap_or((&text, ""));
            let app = APPS
                .into_iter()
                .find(|a| a.key() == app)
                .unwrap_or_else(|| panic!("--only: unknown app {app:?}"));
            let scenario = SCENARIOS
                .into_iter()
                .find(|s| s.path()[1..] == *scenario)
                .unwrap_or_else(|| panic!("--only: unknown scenario {scenario:?}"));
            (app, scenario)
        });
        Self {
            duration: Duration::from_secs_f64(parsed(&args, ENV, "duration", 3.0)),
            warmup: Duration::from_secs_f64(parsed(&args, ENV, "warmup", 0.5)),
            connections: parsed(&args, ENV, "connections", 32usize).max(1),
            rounds: parsed(&args, ENV, "rounds", 3usize).max(1),
            server_threads: parsed(&args, ENV, "server-threads", 1usize).max(1),
            client_threads: parsed(&args, ENV, "client-threads", 1usize).max(1),
            client,
            shared_session,
            redis: flag("redis")
                || only.is_some_and(|(app, _)| app.deployment() == Some(Deployment::Node)),
            redis_cluster: match option(&args, ENV, "redis-cluster") {
                Some(list) => list
                    .split(',')
                    .map(str::trim)
                    .filter(|url| !url.is_empty())
                    .map(str::to_owned)
                    .collect(),
                None if only
                    .is_some_and(|(app, _)| app.deployment() == Some(Deployment::Cluster)) =>
                {
                    vec!["redis://127.0.0.1:7000".to_owned()]
                }
                None => Vec::new(),
            },
            redis_benchmark: parsed(&args, ENV, "redis-benchmark", 200_000usize),
            only,
            redis_url: option(&args, ENV, "redis-url")
                .or_else(|| std::env::var("REDIS_URL").ok())
                .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned()),
            redis_pool: parsed(&args, ENV, "redis-pool", 1usize).max(1),
            retry_disturbed: parsed(&args, ENV, "retry-disturbed", 0usize),
        }
    }

    /// Whether `deployment`'s apps are in this run.
    pub(crate) fn has(&self, deployment: Deployment) -> bool {
        match deployment {
            Deployment::Node => self.redis,
            Deployment::Cluster => !self.redis_cluster.is_empty(),
        }
    }

    /// How long a session may sit idle: long enough that no session used in
    /// one cell is refreshed by a read during it, short enough that what a
    /// killed run leaves in Redis goes away soon.
    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_secs(600).max((self.warmup + self.duration) * 20)
    }
}
