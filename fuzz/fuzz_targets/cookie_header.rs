//! Arbitrary `Cookie` headers through the real `SessionLayer` service, on both
//! backends. See `fuzz/README.md` for the input layout and the invariants.
#![no_main]

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, Response, StatusCode};
use libfuzzer_sys::fuzz_target;
use sessionware::{CookieStore, MemoryStore, Session, SessionLayer};
use tokio::runtime::Runtime;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt as _};

type Service = BoxCloneSyncService<Request<()>, Response<String>, Infallible>;

/// At most this many `Cookie` headers are built from one input.
const MAX_HEADERS: usize = 8;
/// Separates the header values in the input.
const SEPARATOR: u8 = 0xFF;
/// What one input may take, wall clock, on a loaded 2-core machine.
const BOUND: Duration = Duration::from_millis(100);
/// Marker header telling the handler that the request carries a cookie the
/// layer itself issued, so a non-empty session is expected.
const GENUINE: &str = "x-fuzz-genuine";
/// Marker header asking the handler to insert `n` (only the harness sets
/// these markers: the fuzzer's bytes only ever become `Cookie` headers).
const INSERT: &str = "x-fuzz-insert";

/// `(backend, cookie name)` for the low two bits of the first input byte.
const VARIANTS: [(&str, &str); 4] = [
    ("memory", "id"),
    ("cookie", "id"),
    ("memory", "__Host-id"),
    ("cookie", "__Host-id"),
];

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
    })
}

fn services() -> &'static [Service; 4] {
    static SERVICES: OnceLock<[Service; 4]> = OnceLock::new();
    SERVICES.get_or_init(|| {
        // 64 fixed bytes, all distinct: accepted by the layer's secret check.
        let secret: Vec<u8> = (0u8..64).collect();
        VARIANTS.map(|(backend, name)| {
            let layer = match backend {
                // Bounded, so inputs that insert cannot grow memory forever.
                "memory" => SessionLayer::new(MemoryStore::new().max_sessions(4096), &secret),
                _ => SessionLayer::new(CookieStore::new(), &secret),
            };
            // `__Host-` names require `Secure`; plain `id` runs without it.
            let layer = layer.cookie_name(name).secure(name.starts_with("__Host-"));
            BoxCloneSyncService::new(ServiceBuilder::new().layer(layer).service_fn(handler))
        })
    })
}

/// Loads the session and checks what a hostile request must see: an empty,
/// non-degraded guest. Inserts `n` when the request asks for it.
async fn handler(request: Request<()>) -> Result<Response<String>, Infallible> {
    let session = request
        .extensions()
        .get::<Session>()
        .cloned()
        .expect("SessionLayer puts a Session in the extensions");
    session.load().await;
    let n = session.get::<u64>("n");
    if request.headers().contains_key(GENUINE) {
        // The round trip of a cookie the layer issued: the harness is not vacuous.
        assert_eq!(
            n.ok(),
            Some(Some(1)),
            "a genuine cookie must open its session"
        );
        return Ok(Response::new(String::from("genuine")));
    }
    assert!(
        matches!(n, Ok(None)),
        "a fuzzed cookie opened a session: get(\"n\") = {n:?}"
    );
    assert!(
        session.is_empty(),
        "a fuzzed cookie yielded a non-empty session"
    );
    assert!(!session.is_degraded(), "the in-process stores never fail");
    if request.headers().contains_key(INSERT) {
        session.insert("n", 1u64).expect("a u64 serializes");
    }
    Ok(Response::new(String::from("ok")))
}

/// One input: byte 0 picks the variant (bits 0-1) and whether the handler
/// inserts (bit 2); the rest is up to `MAX_HEADERS` `Cookie` header values
/// separated by `SEPARATOR` (values `HeaderValue` rejects are skipped).
async fn run_one(data: &[u8]) {
    let (&flags, rest) = data.split_first().unwrap_or((&0, &[]));
    let service = services()[usize::from(flags & 3)].clone();
    let insert = flags & 4 != 0;

    let mut request = Request::builder();
    for value in rest.splitn(MAX_HEADERS, |&b| b == SEPARATOR) {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            request = request.header(COOKIE, value);
        }
    }
    if insert {
        request = request.header(INSERT, "1");
    }
    let request = request.body(()).expect("valid request parts");

    let response = service.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK, "{response:?}");

    if insert {
        // The layer must have issued a cookie, and that cookie alone must
        // bring the session back.
        let set_cookie = response
            .headers()
            .get(SET_COOKIE)
            .expect("an inserting response sets the cookie");
        let pair = set_cookie
            .as_bytes()
            .split(|&b| b == b';')
            .next()
            .expect("split yields at least one item");
        let request = Request::builder()
            .header(
                COOKIE,
                HeaderValue::from_bytes(pair).expect("issued cookie is a valid header"),
            )
            .header(GENUINE, "1")
            .body(())
            .expect("valid request parts");
        let response = service.oneshot(request).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK, "{response:?}");
        assert_eq!(response.body(), "genuine");
    }
}

fuzz_target!(|data: &[u8]| {
    let runtime = runtime();
    let _ = services();
    // A one-off stall of the shared machine must not fail the run, a slow
    // input must: fail only if three runs in a row all exceed the bound.
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        runtime.block_on(run_one(data));
        fastest = fastest.min(start.elapsed());
        if fastest < BOUND {
            return;
        }
    }
    panic!(
        "input of {} bytes took {fastest:?} (best of 3), bound {BOUND:?}",
        data.len()
    );
});
