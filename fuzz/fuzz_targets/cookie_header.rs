//! Arbitrary `Cookie` headers, bearer tokens and token headers through the
//! real `SessionLayer` service, on both backends. See `fuzz/README.md` for the
//! input layout and the invariants.
#![no_main]

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use libfuzzer_sys::fuzz_target;
use sessionware::{MemoryStore, PendingSession, SessionLayer};
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

/// How the token travels in a variant.
#[derive(Clone, Copy)]
enum Transport {
    /// In the cookie of this name.
    Cookie(&'static str),
    /// In `Authorization: Bearer`, re-issued in `session-token`.
    Bearer,
    /// In `x-session`, both ways.
    Header,
}

const SESSION_TOKEN: HeaderName = HeaderName::from_static("session-token");
const X_SESSION: HeaderName = HeaderName::from_static("x-session");

/// `(backend, transport)` for the low three bits of the first input byte.
const VARIANTS: [(&str, Transport); 8] = [
    ("memory", Transport::Cookie("id")),
    ("cookie", Transport::Cookie("id")),
    ("memory", Transport::Cookie("__Host-id")),
    ("cookie", Transport::Cookie("__Host-id")),
    ("memory", Transport::Bearer),
    ("cookie", Transport::Bearer),
    ("memory", Transport::Header),
    ("cookie", Transport::Header),
];

impl Transport {
    /// The request header the fuzzed values go into.
    fn request_header(self) -> HeaderName {
        match self {
            Self::Cookie(_) => COOKIE,
            Self::Bearer => AUTHORIZATION,
            Self::Header => X_SESSION,
        }
    }

    /// The response header a new token comes back in.
    fn response_header(self) -> HeaderName {
        match self {
            Self::Cookie(_) => SET_COOKIE,
            Self::Bearer => SESSION_TOKEN,
            Self::Header => X_SESSION,
        }
    }

    /// The request header value that presents an issued token again.
    fn present(self, issued: &[u8]) -> Vec<u8> {
        match self {
            // `name=value` without the attributes.
            Self::Cookie(_) => issued
                .split(|&b| b == b';')
                .next()
                .unwrap_or(issued)
                .to_vec(),
            Self::Bearer => [b"Bearer ".as_slice(), issued].concat(),
            Self::Header => issued.to_vec(),
        }
    }
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
    })
}

fn services() -> &'static [Service; 8] {
    static SERVICES: OnceLock<[Service; 8]> = OnceLock::new();
    SERVICES.get_or_init(|| {
        // 64 fixed random bytes: fuzz-only; never use a fixed secret. Fixed,
        // so that seeds issued under it stay genuine from run to run.
        const HEX: &str = "23335d30d43aba4b5f676ddaafc119eb451ff2dafc48a38a9938b5d8a6eabff5\
                           eacb70d7c4f4a857ee2cf151c45663c1b9c2dde28725d00252d2c8bf498c2603";
        let secret: Vec<u8> = (0..HEX.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&HEX[i..i + 2], 16).unwrap())
            .collect();
        VARIANTS.map(|(backend, transport)| {
            let layer = match backend {
                // Bounded, so inputs that insert cannot grow memory forever.
                "memory" => SessionLayer::new(MemoryStore::new().max_sessions(4096), &secret),
                _ => SessionLayer::sealed_cookies(&secret),
            };
            let layer = match transport {
                // `__Host-` names require `Secure`; plain `id` runs without it.
                Transport::Cookie(name) => {
                    layer.cookie_name(name).secure(name.starts_with("__Host-"))
                }
                Transport::Bearer => layer.secure(false).bearer_token(SESSION_TOKEN),
                Transport::Header => layer.secure(false).token_header(X_SESSION),
            };
            BoxCloneSyncService::new(ServiceBuilder::new().layer(layer).service_fn(handler))
        })
    })
}

/// Loads the session and checks what a hostile request must see: an empty,
/// non-degraded guest. Inserts `n` when the request asks for it.
async fn handler(request: Request<()>) -> Result<Response<String>, Infallible> {
    let pending = request
        .extensions()
        .get::<PendingSession>()
        .cloned()
        .expect("SessionLayer puts a PendingSession in the extensions");
    let session = pending.load().await;
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

/// One input: byte 0 picks the variant (bits 0-2) and whether the handler
/// inserts (bit 3); the rest is up to `MAX_HEADERS` values of the variant's
/// token header (`Cookie`, `Authorization` or `x-session`) separated by
/// `SEPARATOR` (values `HeaderValue` rejects are skipped).
async fn run_one(data: &[u8]) {
    let (&flags, rest) = data.split_first().unwrap_or((&0, &[]));
    let variant = usize::from(flags & 7);
    let service = services()[variant].clone();
    let transport = VARIANTS[variant].1;
    let insert = flags & 8 != 0;

    let mut request = Request::builder();
    for value in rest.splitn(MAX_HEADERS, |&b| b == SEPARATOR) {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            request = request.header(transport.request_header(), value);
        }
    }
    if insert {
        request = request.header(INSERT, "1");
    }
    let request = request.body(()).expect("valid request parts");

    let response = service.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK, "{response:?}");

    if insert {
        // The layer must have issued a token, and that token alone must
        // bring the session back.
        let issued = response
            .headers()
            .get(transport.response_header())
            .expect("an inserting response issues a token");
        let presented = transport.present(issued.as_bytes());
        let request = Request::builder()
            .header(
                transport.request_header(),
                HeaderValue::from_bytes(&presented).expect("an issued token is a valid header"),
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
