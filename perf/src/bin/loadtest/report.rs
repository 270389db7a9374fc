//! What a run prints: a progress line per cell, then the Markdown tables of
//! throughput, CPU time per request and busy cores, and the verdicts.

use crate::DISTURBED;
use crate::apps::{App, Deployment, SCENARIOS, Scenario};
use crate::cell::Cell;
use crate::client::Failures;
use crate::options::Options;
use crate::physical::Physical;
use crate::redis_report::{idle_redis_report, redis_indices, redis_report};

pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The URL without its password, for printing.
pub(crate) fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// One progress line on standard error.
pub(crate) fn print_cell(round: usize, scenario: Scenario, app: App, cell: &Cell) {
    eprintln!(
        "round {} {:8} {:20} {:9.0} req/s  {:6.2} µs server CPU/req  \
         busy {:.2} server {:.2} client {:.2} other{}  {} failures{}",
        round + 1,
        scenario.path(),
        app.name(),
        cell.requests_per_s,
        cell.server_cpu_us,
        cell.server_busy,
        cell.client_busy,
        cell.foreign_busy,
        if cell.redis_busy.is_nan() {
            String::new()
        } else {
            format!(" {:.2} Redis", cell.redis_busy)
        },
        cell.failures.count,
        match cell.cache {
            Some((hits, misses)) => format!("  cache {hits} hits {misses} misses"),
            None => String::new(),
        },
    );
}

/// Prints the tables; returns whether any request failed.
/// `physical`: the Redis deployments of the run, with what `redis-benchmark`
/// measured on each (`None` when skipped).
pub(crate) fn report(
    opts: &Options,
    apps: &[App],
    results: &mut [Vec<Vec<Cell>>],
    physical: &[(Deployment, Option<Result<Physical, String>>)],
) -> bool {
    let med = |cells: &[Cell], f: fn(&Cell) -> f64| {
        let mut values: Vec<f64> = cells.iter().map(f).collect();
        median(&mut values)
    };
    println!(
        "\n## Requests per second, median of {} rounds \
         ({} connections, {:.1} s per cell, {} server / {} client threads)\n",
        opts.rounds,
        opts.connections,
        opts.duration.as_secs_f64(),
        opts.server_threads,
        opts.client_threads,
    );
    println!(
        "| scenario | bare axum | tower-sessions | sessionware | tower-sessions / bare | sessionware / bare | target | |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut missed = Vec::new();
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        let rps: Vec<f64> = results[s]
            .iter()
            .map(|cells| med(cells, |c| c.requests_per_s))
            .collect();
        let (ts, sw) = (rps[1] / rps[0], rps[2] / rps[0]);
        let met = sw >= scenario.target();
        if !met {
            missed.push(scenario.path());
        }
        println!(
            "| `{}` | {:.0} | {:.0} | {:.0} | {ts:.3} | {sw:.3} | ≥ {:.2} | {} |",
            scenario.path(),
            rps[0],
            rps[1],
            rps[2],
            scenario.target(),
            if met { "met" } else { "**missed**" },
        );
    }

    println!("\n## Server CPU time per request, µs (median), and cost over bare axum\n");
    println!(
        "| scenario | bare axum | tower-sessions | sessionware | tower-sessions − bare | sessionware − bare |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        let cpu: Vec<f64> = results[s]
            .iter()
            .map(|cells| med(cells, |c| c.server_cpu_us))
            .collect();
        println!(
            "| `{}` | {:.2} | {:.2} | {:.2} | {:+.2} | {:+.2} |",
            scenario.path(),
            cpu[0],
            cpu[1],
            cpu[2],
            cpu[1] - cpu[0],
            cpu[2] - cpu[0],
        );
    }

    println!("\n## Busy cores (median): server threads / client threads\n");
    println!("| scenario | bare axum | tower-sessions | sessionware |");
    println!("| --- | ---: | ---: | ---: |");
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        let busy: Vec<String> = results[s][..3]
            .iter()
            .map(|cells| {
                format!(
                    "{:.2} / {:.2}",
                    med(cells, |c| c.server_busy),
                    med(cells, |c| c.client_busy)
                )
            })
            .collect();
        println!("| `{}` | {} |", scenario.path(), busy.join(" | "));
    }

    for &(deployment, ref physical) in physical {
        redis_report(opts, apps, results, deployment, physical.as_ref());
    }
    if !physical.is_empty() {
        idle_redis_report(results);
    }

    let foreign: Vec<f64> = results
        .iter()
        .flatten()
        .flatten()
        .map(|c| c.foreign_busy)
        .collect();
    let worst = foreign.iter().copied().fold(0.0, f64::max);
    let mean = foreign.iter().sum::<f64>() / foreign.len() as f64;
    println!(
        "\nOther processes kept {mean:.2} cores busy on average, {worst:.2} at worst (of {} cores).",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    if worst > DISTURBED {
        println!(
            "WARNING: other programs competed for the CPU during this run; \
             rerun on a quiet machine before trusting small differences."
        );
    }

    let mut total = 0;
    for (s, &scenario) in SCENARIOS.iter().enumerate() {
        for (a, &app) in apps.iter().enumerate() {
            let mut all = Failures::default();
            for cell in results[s][a].iter_mut() {
                all.merge(std::mem::take(&mut cell.failures));
            }
            if all.count > 0 {
                total += all.count;
                println!(
                    "\nFAILURES: {} {}: {} failed requests, e.g.:",
                    app.name(),
                    scenario.path(),
                    all.count
                );
                for sample in &all.samples {
                    println!("  - {sample}");
                }
            }
        }
    }
    println!();
    if total > 0 {
        println!(
            "!!! RUN FAILED: {total} requests did not get a 200; the numbers above are not valid !!!"
        );
    } else {
        println!("All responses were 200.");
    }
    if !missed.is_empty() {
        println!("sessionware missed its target for: {}", missed.join(", "));
    }
    for &(deployment, _) in physical {
        let Some([ts, sw, _]) = redis_indices(apps, deployment) else {
            continue;
        };
        let missed: Vec<&str> = SCENARIOS
            .iter()
            .enumerate()
            .filter(|&(s, scenario)| {
                let med = |cells: &[Cell]| {
                    median(&mut cells.iter().map(|c| c.requests_per_s).collect::<Vec<_>>())
                };
                scenario
                    .redis_target()
                    .is_some_and(|target| med(&results[s][sw]) / med(&results[s][ts]) < target)
            })
            .map(|(_, scenario)| scenario.path())
            .collect();
        if !missed.is_empty() {
            println!(
                "sessionware missed 1.5x tower-sessions on {} for: {}",
                deployment.name(),
                missed.join(", ")
            );
        }
    }
    total > 0
}
