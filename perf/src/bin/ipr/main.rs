//! Server instructions per request, counted by callgrind: a figure that
//! does not move with the machine's load, for comparing bare axum, axum +
//! tower-sessions 0.15 and axum + sessionware on a shared machine.
//!
//! From `perf/`:
//!
//! ```text
//! cargo build --release --bin ipr
//! target/release/ipr measure                          # 24 cells, memory and Redis
//! target/release/ipr measure --stores memory --routes read,write --n 3000
//! target/release/ipr serve --impl sessionware --store memory --port 3000
//! ```
//!
//! `ipr serve` serves one app (`sessionware_perf::apps`: `/plain`, `/read`,
//! `/write`, `/login`) on 127.0.0.1 on a current-thread tokio runtime, so
//! callgrind counts one thread.
//!
//! `ipr measure`, for each store x route x implementation, starts `ipr serve`
//! under `valgrind --tool=callgrind --dump-instr=no --collect-atstart=yes`,
//! creates a pool of sessions through `/login` (bare axum gets a dummy cookie
//! of the same length as sessionware's), sends warm-up requests to the
//! route, zeroes the counters (`callgrind_control -z`), sends `--n`
//! keep-alive requests on one connection (every reply must be 200, `/login`
//! must set a cookie and `/read` and `/write` answer a number), dumps
//! (`callgrind_control -d`) and divides the dump's total by `--n`. It also
//! runs `callgrind_annotate` on the dump for the calls to sha2's compression
//! function and the instructions in it. Then it prints one Markdown table per
//! store.
//!
//! The driver is this binary (rather than a script) so that it shares the
//! apps, the option names and the Redis clean-up with the server and with
//! `loadtest`, is built and linted with them, and needs nothing but valgrind.
//!
//! No server outlives the driver: each is killed when its cell ends, however
//! it ends (the guard in `callgrind`), and, should the driver itself be
//! killed, exits when its standard input (a pipe from the driver) closes.
//! Redis keys are deleted after every Redis cell, and on SIGINT, SIGTERM or
//! SIGHUP (`interrupt`); see `redis_keys`.
//!
//! The parts: `args` (the command line), `serve` (the server), `client` (a
//! blocking HTTP/1.1 client), `callgrind` (a server under callgrind), `sha`
//! (SHA-256 in a dump), `measure` (the cells), `report` (the tables),
//! `redis_keys` (the Redis clean-up) and `interrupt` (signals).

mod args;
mod callgrind;
mod client;
mod interrupt;
mod measure;
mod redis_keys;
mod report;
mod serve;
mod sha;

use std::process::ExitCode;

const USAGE: &str = "usage: ipr serve ... | ipr measure ... (--help after either for its options)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_default();
    let args: Vec<String> = args.collect();
    let help = args.iter().any(|a| a == "--help" || a == "-h");
    let usage = match command.as_str() {
        "serve" if help => Some(serve::USAGE),
        "measure" if help => Some(measure::USAGE),
        "--help" | "-h" => Some(USAGE),
        _ => None,
    };
    if let Some(usage) = usage {
        println!("{usage}");
        return ExitCode::SUCCESS;
    }
    let result = match command.as_str() {
        "serve" => serve::run(args),
        "measure" => match measure::run(args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(err) => Err(err),
        },
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ipr: {err}");
            ExitCode::from(2)
        }
    }
}
