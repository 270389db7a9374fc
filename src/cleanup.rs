//! `CleanupTask`: deletes expired sessions in the background, for stores without native expiry.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::event::SessionEvents;
use crate::store::SessionStore;

/// A running clean-up job.
///
/// ```
/// use std::time::Duration;
/// use sessionware::{CleanupTask, MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let cleanup = CleanupTask::spawn(store.clone(), Duration::from_secs(300));
/// // ... serve requests with `SessionLayer::new(store, secret)` ...
/// cleanup.stop().await; // or drop it; either way the job ends
/// # }
/// ```
///
/// Every `period` it calls [`SessionStore::delete_expired`]: once at start,
/// then once per period (a slow run delays the next one rather than doubling
/// up). Failures are logged at `warn` and retried at the next period; a
/// panicking store is logged at `error` and the job carries on. The job ends
/// when this handle is dropped, when [`CleanupTask::stop`] is called, or when
/// the shutdown future given to [`CleanupTask::spawn_until`] completes.
///
/// It must be created inside a tokio runtime. Redis expires sessions itself
/// and needs no clean-up; the SQL and memory stores do.
#[derive(Debug)]
#[must_use = "the clean-up job stops when its handle is dropped"]
pub struct CleanupTask {
    stop: Option<oneshot::Sender<()>>,
    join: Option<JoinHandle<()>>,
}

impl CleanupTask {
    /// Starts cleaning `store` every `period`.
    pub fn spawn<S: SessionStore>(store: S, period: Duration) -> Self {
        Self::start(
            store,
            period,
            std::future::pending(),
            SessionEvents::default(),
        )
    }

    /// Like [`CleanupTask::spawn`], and reports each run that removed
    /// records as [`SessionEvent::Purged`](crate::SessionEvent::Purged) to
    /// a layer's events (`layer.events()`), so the clean-up shows up in the
    /// same audit log and metrics as the request path.
    pub fn spawn_reporting<S: SessionStore>(
        store: S,
        period: Duration,
        events: SessionEvents,
    ) -> Self {
        Self::start(store, period, std::future::pending(), events)
    }

    /// Like [`CleanupTask::spawn`], and also ends when `shutdown` completes
    /// (for example `tokio::signal::ctrl_c()` mapped to `()`).
    pub fn spawn_until<S, F>(store: S, period: Duration, shutdown: F) -> Self
    where
        S: SessionStore,
        F: Future<Output = ()> + Send + 'static,
    {
        Self::start(store, period, shutdown, SessionEvents::default())
    }

    fn start<S, F>(store: S, period: Duration, shutdown: F, events: SessionEvents) -> Self
    where
        S: SessionStore,
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let join = tokio::spawn(run(
            Arc::new(store),
            period.max(Duration::from_millis(1)),
            stopped,
            shutdown,
            events,
        ));
        Self {
            stop: Some(stop),
            join: Some(join),
        }
    }

    /// Ends the job and waits until a run in progress has finished.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(join) = self.join.take() {
            let _ = join.await;
        }
    }
}

impl Drop for CleanupTask {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn run<S: SessionStore>(
    store: Arc<S>,
    period: Duration,
    mut stopped: oneshot::Receiver<()>,
    shutdown: impl Future<Output = ()>,
    events: SessionEvents,
) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            () = &mut shutdown => break,
            _ = ticker.tick() => {}
        }
        // Each run is its own task, so a panicking store cannot end the job.
        let (store, events) = (Arc::clone(&store), events.clone());
        match tokio::spawn(async move { events.delete_expired(&*store).await }).await {
            Ok(Ok(removed)) => tracing::debug!(removed, "expired sessions deleted"),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "deleting expired sessions failed; retrying next period")
            }
            Err(err) => {
                tracing::error!(error = %err, "deleting expired sessions panicked; retrying next period")
            }
        }
    }
    tracing::debug!("session clean-up stopped");
}

#[cfg(all(test, feature = "memory-store"))]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::SystemTime;

    use super::*;
    use crate::error::Error;
    use crate::record::Record;
    use crate::store::{MemoryStore, SaveOutcome};
    use crate::token::SessionKey;

    /// Counts `delete_expired` calls; fails on the first and panics on the second.
    #[derive(Default)]
    struct Flaky {
        calls: AtomicU64,
    }

    impl SessionStore for Flaky {
        async fn health(&self) -> Result<(), Error> {
            Ok(())
        }
        async fn create(&self, _: &SessionKey, _: &Record) -> Result<bool, Error> {
            Ok(true)
        }
        async fn load(&self, _: &SessionKey) -> Result<Option<Record>, Error> {
            Ok(None)
        }
        async fn save(&self, _: &SessionKey, _: &Record, _: u64) -> Result<SaveOutcome, Error> {
            Ok(SaveOutcome::Missing)
        }
        async fn delete(&self, _: &SessionKey) -> Result<bool, Error> {
            Ok(false)
        }
        async fn delete_expired(&self) -> Result<u64, Error> {
            match self.calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(Error::store_message("injected failure")),
                1 => panic!("injected panic"),
                _ => Ok(0),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failures_and_panics_do_not_end_the_job_and_runs_are_not_doubled() {
        let store = Arc::new(Flaky::default());
        let task = CleanupTask::spawn(store.clone(), Duration::from_secs(60));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            store.calls.load(Ordering::SeqCst),
            1,
            "one run at start, not two"
        );
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            store.calls.load(Ordering::SeqCst),
            2,
            "kept going after a failure"
        );
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            store.calls.load(Ordering::SeqCst),
            3,
            "kept going after a panic"
        );
        drop(task);
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_eq!(
            store.calls.load(Ordering::SeqCst),
            3,
            "dropping the handle stops the job"
        );
    }

    #[tokio::test]
    async fn expired_sessions_disappear_and_stop_waits() {
        let store = MemoryStore::new();
        let now = SystemTime::now();
        let expired = Record::new(Default::default(), now, now - Duration::from_secs(1));
        let live = Record::new(Default::default(), now, now + Duration::from_secs(60));
        store
            .create(&SessionKey::from_bytes([1; 32]), &expired)
            .await
            .unwrap();
        store
            .create(&SessionKey::from_bytes([2; 32]), &live)
            .await
            .unwrap();
        let task = CleanupTask::spawn(store.clone(), Duration::from_millis(20));
        tokio::time::sleep(Duration::from_millis(100)).await;
        task.stop().await;
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn a_shutdown_signal_ends_the_job() {
        let (fire, signal) = oneshot::channel::<()>();
        let task = CleanupTask::spawn_until(MemoryStore::new(), Duration::from_secs(60), async {
            let _ = signal.await;
        });
        fire.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task.stop())
            .await
            .expect("ended");
    }
}
