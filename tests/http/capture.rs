//! The logs of the tests that read them. The tests of this binary share one
//! process, so there is one `tracing` subscriber for all of them, installed
//! on first use; it keeps only what is logged inside a `capture` span, and
//! every line it keeps names the tag of that span. A test wraps its app in
//! [`Tag`] and reads back only the lines of its own tag, whatever the tests
//! running beside it log.
#![allow(unreachable_pub)]

use std::sync::OnceLock;
use std::task::Poll;

use tower::{Layer, Service};
use tracing::instrument::{Instrument as _, Instrumented};
use tracing::{Metadata, Span};
use tracing_subscriber::filter::DynFilterFn;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::{Layer as _, Registry};

use crate::common::Captured;

/// The name of the span whose events are kept.
const SPAN: &str = "capture";

/// Everything logged inside a `capture` span by this process, at every
/// level; installs the global subscriber on first use.
pub fn logs() -> &'static Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        // A `capture` span, and events with one in their scope (the
        // filtered context only sees the spans this filter enabled).
        let only_tagged =
            DynFilterFn::new(|metadata: &Metadata<'_>, cx: &Context<'_, Registry>| {
                if metadata.is_span() {
                    metadata.name() == SPAN
                } else {
                    cx.lookup_current().is_some()
                }
            });
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_filter(only_tagged);
        // Global: the server's tasks run on the runtime's worker threads.
        tracing::subscriber::set_global_default(Registry::default().with(layer)).unwrap();
        captured
    })
}

/// The lines of `tag` logged since the captured text had `from` bytes.
pub fn lines_since(tag: &str, from: usize) -> Vec<String> {
    let marker = format!("{SPAN}{{tag={tag}}}");
    logs().text()[from..]
        .lines()
        .filter(|line| line.contains(&marker))
        .map(str::to_owned)
        .collect()
}

/// The lines of `tag`, joined: what the test's own requests logged.
pub fn text(tag: &str) -> String {
    lines_since(tag, 0).join("\n")
}

/// A layer that runs every request of the service it wraps inside the
/// `capture` span of one tag, so whatever the service logs is kept.
#[derive(Clone, Debug)]
pub struct Tag(Span);

impl Tag {
    /// Installs the subscriber if needed, and makes the span of `tag`.
    pub fn new(tag: &'static str) -> Self {
        logs();
        Self(tracing::info_span!("capture", tag = %tag))
    }
}

impl<S> Layer<S> for Tag {
    type Service = Tagged<S>;

    fn layer(&self, inner: S) -> Tagged<S> {
        Tagged {
            inner,
            span: self.0.clone(),
        }
    }
}

/// The service made by [`Tag`].
#[derive(Clone, Debug)]
pub struct Tagged<S> {
    inner: S,
    span: Span,
}

impl<S: Service<R>, R> Service<R> for Tagged<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<(), S::Error>> {
        let _entered = self.span.enter();
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let _entered = self.span.enter();
        self.inner.call(request).instrument(self.span.clone())
    }
}
