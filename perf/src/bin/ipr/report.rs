//! The Markdown tables of `ipr measure`.

use std::collections::HashMap;

use sessionware_perf::apps::{Impl, Route};

use crate::measure::Measured;
use crate::serve::Store;

/// Every cell's figures (or why it failed).
pub(crate) type Results = HashMap<(Store, Route, Impl), Result<Measured, String>>;

/// `1234567.8` as `1,234,568`.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value.round() < 0.0 {
        format!("−{out}")
    } else {
        out
    }
}

/// A count per request: `3` when whole, else `2.50`.
fn count(value: f64) -> String {
    if (value - value.round()).abs() < 0.005 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// `a ÷ b`, when `b` is positive.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "n/a".to_owned()
    }
}

/// One table per store: instructions per request of each implementation,
/// SHA-256 compressions, and sessionware's added cost over bare axum
/// against tower-sessions', with and without SHA-256.
pub(crate) fn print_tables(
    stores: &[Store],
    routes: &[Route],
    impls: &[Impl],
    n: usize,
    repeat: usize,
    results: &Results,
) {
    let get = |store, route, implementation| {
        results
            .get(&(store, route, implementation))
            .and_then(|r| r.as_ref().ok())
    };
    let cell = |store, route, implementation| match results.get(&(store, route, implementation)) {
        Some(Ok(m)) => thousands(m.instructions),
        Some(Err(_)) => "failed".to_owned(),
        None => "–".to_owned(),
    };
    for &store in stores {
        println!();
        let servers = if repeat > 1 {
            format!(", median of {repeat} servers")
        } else {
            String::new()
        };
        println!(
            "Server instructions per request, {} store (callgrind, {n} keep-alive requests \
             per server{servers}):",
            store.key()
        );
        println!();
        print!("| route ({} store) |", store.key());
        for &implementation in impls {
            print!(" {} |", implementation.name());
        }
        println!(
            " SHA-256 compressions per request: tower-sessions / sessionware \
             | sessionware's SHA-256 instructions \
             | added over bare: sessionware ÷ tower-sessions \
             | added over bare, SHA-256 set aside: tower-sessions / sessionware \
             | added over bare, SHA-256 set aside: sessionware ÷ tower-sessions |"
        );
        print!("| --- |");
        for _ in impls {
            print!(" ---: |");
        }
        println!(" ---: | ---: | ---: | ---: | ---: |");
        for &route in routes {
            print!("| {} |", route.path());
            for &implementation in impls {
                print!(" {} |", cell(store, route, implementation));
            }
            let bare = get(store, route, Impl::Bare);
            let ts = get(store, route, Impl::TowerSessions);
            let sw = get(store, route, Impl::Sessionware);
            let sha = match (ts, sw) {
                (Some(ts), Some(sw)) => {
                    format!("{} / {}", count(ts.sha_calls), count(sw.sha_calls))
                }
                _ => "–".to_owned(),
            };
            let sw_sha = sw.map_or("–".to_owned(), |sw| {
                format!(
                    "{} ({:.1} %)",
                    thousands(sw.sha_instructions),
                    100.0 * sw.sha_instructions / sw.instructions
                )
            });
            let (added_ratio, aside, aside_ratio) = match (bare, ts, sw) {
                (Some(bare), Some(ts), Some(sw)) => {
                    let ts_added = ts.instructions - bare.instructions;
                    let sw_added = sw.instructions - bare.instructions;
                    let ts_aside = ts_added - ts.sha_instructions;
                    let sw_aside = sw_added - sw.sha_instructions;
                    (
                        ratio(sw_added, ts_added),
                        format!("{} / {}", thousands(ts_aside), thousands(sw_aside)),
                        ratio(sw_aside, ts_aside),
                    )
                }
                _ => ("–".into(), "–".into(), "–".into()),
            };
            println!(" {sha} | {sw_sha} | {added_ratio} | {aside} | {aside_ratio} |");
        }
    }
    let symbols: Vec<&str> = {
        let mut symbols: Vec<&str> = results
            .values()
            .filter_map(|r| r.as_ref().ok())
            .map(|m| m.sha_symbol.as_str())
            .filter(|s| !s.is_empty())
            .collect();
        symbols.sort_unstable();
        symbols.dedup();
        symbols
    };
    println!();
    println!(
        "Instructions are the server process's (one thread), from the callgrind dump \
         between `callgrind_control -z` and `-d`, divided by the number of requests. \
         SHA-256 compressions are calls to {} (one 64-byte block each here); under \
         valgrind sha2 runs its software code (SHA extensions hidden), so \"SHA-256 set \
         aside\" subtracts their instructions.",
        if symbols.is_empty() {
            "sha2's compression function".to_owned()
        } else {
            symbols
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    println!();
}
