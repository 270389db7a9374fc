//! The physical limit beside the Redis tables: `redis-benchmark`'s GET and
//! SET requests per second against the same node or cluster, with as many
//! clients as the load test has connections.

use std::process::Command;

use sessionware_perf::redis_cleanup::unlink;
use sessionware_perf::redis_cluster;

use crate::apps::Deployment;

/// What `redis-benchmark -t get,set` measured.
pub(crate) struct Physical {
    pub(crate) get: f64,
    pub(crate) set: f64,
    /// The command line, for the report.
    pub(crate) command: String,
}

/// Runs `redis-benchmark -h HOST -p PORT -t get,set -n requests -c clients -q`
/// (with `--cluster` on a cluster) against the first of `urls`, then deletes
/// the keys it wrote (`key:__rand_int__`, on a cluster `key:{TAG}:__rand_int__`
/// per master).
pub(crate) async fn redis_benchmark(
    deployment: Deployment,
    urls: &[String],
    clients: usize,
    requests: usize,
) -> Result<Physical, String> {
    let client = redis::Client::open(urls[0].as_str()).map_err(|e| e.to_string())?;
    let info = client.get_connection_info();
    let redis::ConnectionAddr::Tcp(host, port) = &info.addr else {
        return Err(format!(
            "redis-benchmark: {} is not a TCP address",
            info.addr
        ));
    };
    let mut args = vec![
        "-h".to_owned(),
        host.clone(),
        "-p".to_owned(),
        port.to_string(),
    ];
    if let Some(password) = &info.redis.password {
        args.extend([
            "-a".to_owned(),
            password.clone(),
            "--no-auth-warning".to_owned(),
        ]);
    }
    if deployment == Deployment::Cluster {
        args.push("--cluster".to_owned());
    }
    args.extend(
        [
            "-t",
            "get,set",
            "-n",
            &requests.to_string(),
            "-c",
            &clients.to_string(),
            "-q",
        ]
        .map(str::to_owned),
    );
    let command = format!(
        "redis-benchmark {}",
        args.iter()
            .map(|a| if info.redis.password.as_ref() == Some(a) {
                "***"
            } else {
                a
            })
            .collect::<Vec<_>>()
            .join(" ")
    );
    let output =
        tokio::task::spawn_blocking(move || Command::new("redis-benchmark").args(&args).output())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot run redis-benchmark (Debian: redis-tools): {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = |test: &str| {
        text.split(['\r', '\n'])
            .filter_map(|line| line.trim().strip_prefix(test))
            .filter_map(|rest| rest.trim().strip_suffix_once(" requests per second"))
            .filter_map(|number| number.parse::<f64>().ok())
            .next_back()
            .ok_or_else(|| format!("{command}: no {test} result in its output {text:?}"))
    };
    let physical = Physical {
        get: rate("GET:")?,
        set: rate("SET:")?,
        command,
    };
    match deployment {
        Deployment::Node => {
            let mut connection = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| e.to_string())?;
            unlink(&mut connection, &["key:__rand_int__".to_owned()]).await?;
        }
        Deployment::Cluster => {
            redis_cluster::unlink_matching(urls, "key:{*}:__rand_int__").await?;
        }
    }
    Ok(physical)
}

/// `strip_suffix`, but for the part of a line before `suffix`.
trait BeforeSuffix {
    fn strip_suffix_once(&self, suffix: &str) -> Option<&str>;
}

impl BeforeSuffix for str {
    fn strip_suffix_once(&self, suffix: &str) -> Option<&str> {
        self.find(suffix).map(|at| &self[..at])
    }
}
