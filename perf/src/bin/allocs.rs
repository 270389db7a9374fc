//! Heap allocations per request: bare axum, axum + tower-sessions 0.15 and
//! axum + sessionware, on their in-memory stores, for each route of
//! `sessionware_perf::apps` (`/plain`, `/read`, `/write`, `/login`).
//!
//! From `perf/`:
//!
//! ```text
//! cargo run --release --bin allocs
//! cargo run --release --bin allocs -- --requests 20000 --warmup 2000 --pool 64
//! ```
//!
//! A counting global allocator (it forwards to `std::alloc::System` and
//! counts allocations, reallocations and bytes in atomics) watches each app
//! serve `--requests` requests in-process: `tower::ServiceExt::oneshot` on the
//! `Router` (finished once with `with_state(())`, as `axum::serve` does per
//! connection) on a current-thread tokio runtime, each response's body read to
//! its end. Before counting, each app gets `--pool` sessions through `/login`
//! (bare axum: a dummy cookie of the same length) and `--warmup` requests to
//! the route; the requests are built before the counters are read, so
//! building them is not counted. Every response must be 200.
//!
//! No network is involved, so hyper's own allocations per request (reading
//! the request head into a `HeaderMap`, the connection's buffers, writing the
//! response) are not counted: the figures are what the router, the session
//! layer and the handler allocate.

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request};
use http_body_util::BodyExt as _;
use sessionware_perf::apps::{self, Impl, Route};
use tower::ServiceExt as _;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static REALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes handed out: the size of every allocation and the new size of every
/// reallocation (as if it were a fresh block, as dhat counts them).
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Bytes currently allocated.
static LIVE: AtomicI64 = AtomicI64::new(0);

/// `System`, counting.
struct Counting;

fn size(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

// A global allocator is an `unsafe impl`; this one only counts and forwards
// every call unchanged to `System`.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        LIVE.fetch_add(size(layout.size()), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        LIVE.fetch_add(size(layout.size()), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc_zeroed`, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(size(layout.size()), Ordering::Relaxed);
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        LIVE.fetch_add(size(new_size) - size(layout.size()), Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counters at one moment.
#[derive(Clone, Copy)]
struct Snapshot {
    allocations: u64,
    reallocations: u64,
    bytes: u64,
    live: i64,
}

impl Snapshot {
    fn now() -> Self {
        Self {
            allocations: ALLOCATIONS.load(Ordering::Relaxed),
            reallocations: REALLOCATIONS.load(Ordering::Relaxed),
            bytes: BYTES.load(Ordering::Relaxed),
            live: LIVE.load(Ordering::Relaxed),
        }
    }
}

/// Per request, between two snapshots.
struct PerRequest {
    allocations: f64,
    reallocations: f64,
    bytes: f64,
    /// Bytes still allocated afterwards (the store's growth, for `/login`).
    retained: f64,
}

impl PerRequest {
    fn between(before: Snapshot, after: Snapshot, requests: usize) -> Self {
        let n = requests as f64;
        Self {
            allocations: (after.allocations - before.allocations) as f64 / n,
            reallocations: (after.reallocations - before.reallocations) as f64 / n,
            bytes: (after.bytes - before.bytes) as f64 / n,
            retained: (after.live - before.live) as f64 / n,
        }
    }
}

struct Options {
    requests: usize,
    warmup: usize,
    pool: usize,
}

impl Options {
    fn parse() -> Result<Self, String> {
        let mut opts = Self {
            requests: 10_000,
            warmup: 1_000,
            pool: 64,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let (name, value) = match arg.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            if name == "--help" || name == "-h" {
                return Err("usage: allocs [--requests 10000] [--warmup 1000] [--pool 64]".into());
            }
            let value = value
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))?;
            let number: usize = value
                .parse()
                .map_err(|_| format!("{name}: cannot parse {value:?}"))?;
            match name.as_str() {
                "--requests" => opts.requests = number.max(1),
                "--warmup" => opts.warmup = number,
                "--pool" => opts.pool = number.max(1),
                _ => return Err(format!("unknown option {name}")),
            }
        }
        Ok(opts)
    }
}

fn app(implementation: Impl) -> Router {
    let router = match implementation {
        Impl::Bare => apps::bare(),
        Impl::TowerSessions => apps::tower_sessions(tower_sessions::MemoryStore::default(), None),
        Impl::Sessionware => apps::sessionware(sessionware::MemoryStore::new(), None),
    };
    // Turns every handler into a finished route once, as `axum::serve` does
    // per connection; a bare `Router<()>` called as a service would instead
    // apply the layers again on every request.
    router.with_state(())
}

fn request(route: Route, cookie: Option<&HeaderValue>) -> Request<Body> {
    let mut request = Request::get(route.path())
        .body(Body::empty())
        .expect("a valid request");
    if let Some(cookie) = cookie {
        request.headers_mut().insert(COOKIE, cookie.clone());
    }
    request
}

/// Sends `request`, reads the body to its end; the `Set-Cookie` pair, or
/// why the reply was not a 200.
async fn send(app: &Router, request: Request<Body>) -> Result<Option<HeaderValue>, String> {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let cookie = response.headers().get(SET_COOKIE).and_then(|value| {
        let pair = value.to_str().ok()?.split(';').next()?;
        HeaderValue::from_str(pair).ok()
    });
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(|e| e.to_string())?;
    }
    if status == http::StatusCode::OK {
        Ok(cookie)
    } else {
        Err(format!("answered {status}"))
    }
}

/// One cell: allocations per request of `route` on a fresh `implementation`.
async fn measure(implementation: Impl, route: Route, opts: &Options) -> Result<PerRequest, String> {
    let app = app(implementation);
    let pool: Vec<HeaderValue> = if implementation == Impl::Bare {
        vec![HeaderValue::from_str(&apps::dummy_cookie()).expect("a valid header")]
    } else {
        let mut pool = Vec::with_capacity(opts.pool);
        for _ in 0..opts.pool {
            let cookie = send(&app, request(Route::Login, None))
                .await?
                .ok_or("/login set no cookie")?;
            pool.push(cookie);
        }
        pool
    };
    let cookie = |i: usize| route.sends_cookie().then(|| &pool[i % pool.len()]);
    for i in 0..opts.warmup {
        send(&app, request(route, cookie(i))).await?;
    }
    // Retained bytes are counted from before the requests are built (they
    // are all freed by the end); everything else from after.
    let live = LIVE.load(Ordering::Relaxed);
    let requests: Vec<Request<Body>> = (0..opts.requests)
        .map(|i| request(route, cookie(i)))
        .collect();
    let mut failures = 0usize;
    let mut before = Snapshot::now();
    for request in requests {
        if send(&app, request).await.is_err() {
            failures += 1;
        }
    }
    let after = Snapshot::now();
    if failures > 0 {
        return Err(format!(
            "{failures} of {} replies were not 200",
            opts.requests
        ));
    }
    before.live = live;
    Ok(PerRequest::between(before, after, opts.requests))
}

/// A figure per request: `3` when whole, else `2.50`.
fn figure(value: f64) -> String {
    if (value - value.round()).abs() < 0.005 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// `7310.47` as `7,310`.
fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if value.round() < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

fn main() -> ExitCode {
    let opts = match Options::parse() {
        Ok(opts) => opts,
        Err(err) => {
            eprintln!("allocs: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut results = Vec::new();
    let mut failed = false;
    for route in Route::ALL {
        let mut row = Vec::new();
        for implementation in Impl::ALL {
            let result = runtime.block_on(measure(implementation, route, &opts));
            match &result {
                Ok(r) => eprintln!(
                    "allocs: {:7} {:15} {} allocations ({} reallocations), {} bytes ({} retained) per request",
                    route.path(),
                    implementation.key(),
                    figure(r.allocations),
                    figure(r.reallocations),
                    thousands(r.bytes),
                    thousands(r.retained),
                ),
                Err(err) => {
                    eprintln!(
                        "allocs: {:7} {:15} FAILED: {err}",
                        route.path(),
                        implementation.key()
                    );
                    failed = true;
                }
            }
            row.push(result);
        }
        results.push((route, row));
    }

    let table = |title: &str, show: &dyn Fn(&PerRequest) -> String| {
        println!();
        println!("{title}");
        println!();
        print!("| route (memory store) |");
        for implementation in Impl::ALL {
            print!(" {} |", implementation.name());
        }
        println!();
        print!("| --- |");
        for _ in Impl::ALL {
            print!(" ---: |");
        }
        println!();
        for (route, row) in &results {
            print!("| {} |", route.path());
            for result in row {
                match result {
                    Ok(r) => print!(" {} |", show(r)),
                    Err(_) => print!(" failed |"),
                }
            }
            println!();
        }
    };
    println!(
        "Heap allocations per request, in-process ({} requests per cell through \
         `tower::ServiceExt::oneshot`, no network, so hyper's own allocations are not counted).",
        opts.requests
    );
    table("Allocations per request (of which reallocations):", &|r| {
        format!("{} ({})", figure(r.allocations), figure(r.reallocations))
    });
    table(
        "Bytes allocated per request (of which still allocated after the cell):",
        &|r| format!("{} ({})", thousands(r.bytes), thousands(r.retained)),
    );
    println!();
    println!(
        "Bytes count every allocation's size and every reallocation's new size; what is \
         still allocated after the cell is the store's growth (new sessions). In-process \
         requests skip hyper: its own allocations per request (the request head's \
         `HeaderMap`, connection buffers, writing the response) are not counted, and \
         neither is building the requests."
    );
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
