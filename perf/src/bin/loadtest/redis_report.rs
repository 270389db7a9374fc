//! The Redis tables of a run: per deployment (one node, a cluster), the
//! requests per second of tower-sessions, sessionware and sessionware with
//! its read cache beside `redis-benchmark`'s physical limit, their CPU time,
//! and the cache's hits and misses.

use crate::DISTURBED;
use crate::apps::{App, Deployment, Flavour, SCENARIOS};
use crate::cell::Cell;
use crate::options::Options;
use crate::physical::Physical;
use crate::report::{median, redacted};

/// The Redis tables of `deployment`: bare axum (index 0) against
/// tower-sessions, sessionware and sessionware with its read cache, on the
/// same Redis, beside what `redis-benchmark` measured there.
pub(crate) fn redis_report(
    opts: &Options,
    apps: &[App],
    results: &[Vec<Vec<Cell>>],
    deployment: Deployment,
    physical: Option<&Result<Physical, String>>,
) {
    let med = |cells: &[Cell], f: fn(&Cell) -> f64| {
        let mut values: Vec<f64> = cells.iter().map(f).collect();
        median(&mut values)
    };
    let Some(index) = redis_indices(apps, deployment) else {
        return;
    };
    let columns = [0, index[0], index[1], index[2]];
    println!(
        "\n## {}: requests per second, median of {} rounds \
         ({} connections, {:.1} s per cell, {} server / {} client threads)\n",
        deployment.name(),
        opts.rounds,
        opts.connections,
        opts.duration.as_secs_f64(),
        opts.server_threads,
        opts.client_threads,
    );
    let (connections, place) = match deployment {
        Deployment::Node => ("connection(s)", redacted(&opts.redis_url)),
        Deployment::Cluster => (
            "connection(s) per master",
            opts.redis_cluster
                .iter()
                .map(|url| redacted(url))
                .collect::<Vec<_>>()
                .join(","),
        ),
    };
    let multiplexed = match deployment {
        Deployment::Node => "1 multiplexed connection (ConnectionManager)",
        Deployment::Cluster => "1 multiplexed connection per master (redis-rs cluster client)",
    };
    println!(
        "tower-sessions 0.15 + tower-sessions-redis-store 0.16 on a fred pool of {} {connections}; \
         sessionware + RedisStore on {multiplexed}, the cache rows with one more \
         (the cache's pub/sub subscriber); Redis at {place}.\n",
        opts.redis_pool,
    );
    match physical {
        Some(Ok(physical)) => println!(
            "Physical limit, `{}`: GET {:.0} requests/s, SET {:.0} requests/s.\n",
            physical.command, physical.get, physical.set
        ),
        Some(Err(err)) => println!("Physical limit: redis-benchmark failed: {err}\n"),
        None => {}
    }
    println!(
        "| scenario | bare axum | tower-sessions | sessionware | sessionware + cache \
         | sessionware / tower-sessions | (sessionware + cache) / tower-sessions | target | |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut rates = Vec::new();
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        let rps: Vec<f64> = columns
            .iter()
            .map(|&a| med(&results[s][a], |c| c.requests_per_s))
            .collect();
        let ratio = rps[2] / rps[1];
        let (target, verdict) = match scenario.redis_target() {
            Some(target) if ratio >= target => (format!("≥ {target:.2}"), "met"),
            Some(target) => (format!("≥ {target:.2}"), "**missed**"),
            None => ("—".to_owned(), ""),
        };
        println!(
            "| `{}` | {:.0} | {:.0} | {:.0} | {:.0} | {ratio:.2} | {:.2} | {target} | {verdict} |",
            scenario.path(),
            rps[0],
            rps[1],
            rps[2],
            rps[3],
            rps[3] / rps[1],
        );
        rates.push(rps);
    }
    if let Some(Ok(physical)) = physical {
        println!(
            "\nRequests/s as a share of redis-benchmark's GET rate ({:.0}/s):\n",
            physical.get
        );
        println!("| scenario | tower-sessions | sessionware | sessionware + cache |");
        println!("| --- | ---: | ---: | ---: |");
        for (s, &scenario) in SCENARIOS.iter().enumerate() {
            println!(
                "| `{}` | {:.2} | {:.2} | {:.2} |",
                scenario.path(),
                rates[s][1] / physical.get,
                rates[s][2] / physical.get,
                rates[s][3] / physical.get,
            );
        }
    }

    println!(
        "\n## {}: server CPU time per request, µs (median), and busy cores \
         (median): server threads / client threads / Redis\n",
        deployment.name()
    );
    println!(
        "| scenario | bare axum µs | tower-sessions µs | sessionware µs | sessionware + cache µs \
         | bare axum busy | tower-sessions busy | sessionware busy | sessionware + cache busy |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        let cpu: Vec<String> = columns
            .iter()
            .map(|&a| format!("{:.2}", med(&results[s][a], |c| c.server_cpu_us)))
            .collect();
        let busy: Vec<String> = columns
            .iter()
            .map(|&a| {
                let cells = &results[s][a];
                format!(
                    "{:.2} / {:.2} / {:.2}",
                    med(cells, |c| c.server_busy),
                    med(cells, |c| c.client_busy),
                    med(cells, |c| c.redis_busy),
                )
            })
            .collect();
        println!(
            "| `{}` | {} | {} |",
            scenario.path(),
            cpu.join(" | "),
            busy.join(" | ")
        );
    }

    let cache: Vec<String> = SCENARIOS
        .iter()
        .enumerate()
        .map(|(s, scenario)| {
            let (hits, misses) = results[s][index[2]]
                .iter()
                .filter_map(|c| c.cache)
                .fold((0, 0), |(h, m), (hits, misses)| (h + hits, m + misses));
            format!("`{}` {hits} hits / {misses} misses", scenario.path())
        })
        .collect();
    println!(
        "\nRead cache, all rounds (warm-up and cookie set-up included): {}.",
        cache.join(", ")
    );
}

/// Where `deployment`'s tower-sessions, sessionware and sessionware + cache
/// apps are in `apps`, when all three run.
pub(crate) fn redis_indices(apps: &[App], deployment: Deployment) -> Option<[usize; 3]> {
    let find = |flavour| {
        let app = App::redis(deployment, flavour);
        apps.iter().position(|&a| a == app)
    };
    Some([
        find(Flavour::TowerSessions)?,
        find(Flavour::Sessionware)?,
        find(Flavour::SessionwareCache)?,
    ])
}

/// How busy Redis was while only in-memory apps were loaded: other clients.
pub(crate) fn idle_redis_report(results: &[Vec<Vec<Cell>>]) {
    let idle_redis = results
        .iter()
        .flat_map(|apps| apps[..3].iter().flatten())
        .map(|c| c.redis_busy)
        .filter(|busy| busy.is_finite())
        .fold(0.0, f64::max);
    println!(
        "\nThe Redis server was busy {idle_redis:.2} cores at most while only in-memory apps \
         were loaded (other clients of the same Redis)."
    );
    if idle_redis > DISTURBED {
        println!(
            "WARNING: other clients loaded the same Redis during this run; \
             the Redis columns are noisy."
        );
    }
}
