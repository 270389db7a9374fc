//! The command line: options as flags or `SOAK_` environment variables.

use std::time::Duration;

use sessionware_perf::cli::{option, parsed};

pub(crate) struct Options {
    /// How long the clients send requests.
    pub(crate) duration: Duration,
    /// Concurrent clients, each with its own cookie jar.
    pub(crate) clients: usize,
    /// Node URLs of the Redis Cluster (the default deployment).
    pub(crate) cluster: Vec<String>,
    /// One Redis node instead of the cluster.
    pub(crate) redis_url: Option<String>,
    /// Whether to fail a master over in the middle of the run.
    pub(crate) failover: bool,
    /// The width of the latency and error buckets.
    pub(crate) bucket: Duration,
    /// How long a client waits for one response before calling it an error.
    pub(crate) timeout: Duration,
}

/// The prefix of the environment variables that stand for options.
const ENV: &str = "SOAK";

impl Options {
    pub(crate) fn from_env() -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|a| a == "--help" || a == "-h") {
            println!(
                "usage: soak [--duration SECS] [--clients N] [--redis-cluster URL,URL,...]\n\
                 \x20           [--redis-url URL] [--no-failover] [--bucket SECS] [--timeout SECS]\n\
                 Two sessionware apps on two loopback ports, over a Redis Cluster (default\n\
                 redis://127.0.0.1:7000,7001,7002) or one node (--redis-url), loaded with\n\
                 70% reads, 20% writes, 5% logins and 5% logouts for --duration (600 s),\n\
                 with one CLUSTER FAILOVER in the middle (not with --redis-url or --no-failover).\n\
                 Exits 1 on an error outside the failover window, or when the RSS at the end\n\
                 exceeds the RSS in the middle by more than 20%."
            );
            std::process::exit(0);
        }
        let flag = |name: &str| {
            args.iter().any(|a| *a == format!("--{name}"))
                || std::env::var(format!("SOAK_{}", name.to_uppercase().replace('-', "_")))
                    .is_ok_and(|v| v != "0")
        };
        let duration = Duration::from_secs_f64(parsed(&args, ENV, "duration", 600.0));
        let redis_url = option(&args, ENV, "redis-url");
        // Per minute, or per 10 s when the run is shorter than 5 minutes.
        let default_bucket: f64 = if duration >= Duration::from_secs(300) {
            60.0
        } else {
            10.0
        };
        Self {
            duration,
            clients: parsed(&args, ENV, "clients", 64usize).max(1),
            cluster: option(&args, ENV, "redis-cluster")
                .unwrap_or_else(|| {
                    "redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002"
                        .to_owned()
                })
                .split(',')
                .map(str::trim)
                .filter(|url| !url.is_empty())
                .map(str::to_owned)
                .collect(),
            failover: !flag("no-failover") && redis_url.is_none(),
            redis_url,
            bucket: Duration::from_secs_f64(parsed(&args, ENV, "bucket", default_bucket).max(0.1)),
            timeout: Duration::from_secs_f64(parsed(&args, ENV, "timeout", 10.0)),
        }
    }

    /// Where the sessions are, for printing.
    pub(crate) fn deployment(&self) -> String {
        match &self.redis_url {
            Some(url) => format!("one Redis node ({url})"),
            None => format!("Redis Cluster ({})", self.cluster.join(",")),
        }
    }
}
