//! Requests while `delete_expired` sweeps a large `MemoryStore` with part of
//! its sessions expired, and windows of equal length without the sweep,
//! under two models of the request traffic (`latency.rs` sums them up).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use sessionware::store::{Record, SessionKey};
use sessionware::{MemoryStore, SessionStore};
use tokio::runtime::Runtime;

use crate::Options;
use crate::common::{Random, sample_data};
use crate::latency::{Mode, SweepFigures, summarize};

/// Quiet time before each window, for the previous step's effects to pass.
const SETTLE: Duration = Duration::from_millis(50);

/// One request: load a session, change one value, save it one version up.
async fn request(store: &MemoryStore, key: &SessionKey) {
    let mut record = store.load(key).await.expect("load").expect("live");
    let expected = record.version;
    record.version += 1;
    record.data.insert("n", &record.version).expect("n");
    // Saved, or a conflict with a concurrent request on the same session.
    black_box(store.save(key, &record, expected).await.expect("save"));
}

/// The traffic's shared state: the live sessions, the current window
/// (0: none; 2r + 1 without the sweep and 2r + 2 with it, round r), the
/// stop flag and the windowed samples, (window, nanoseconds).
#[derive(Clone)]
struct Traffic {
    store: MemoryStore,
    live: Arc<[SessionKey]>,
    phase: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(u32, u32)>>>,
}

impl Traffic {
    fn keep(&self, window: u32, took: Duration) {
        if window != 0 {
            let nanos = u32::try_from(took.as_nanos()).unwrap_or(u32::MAX);
            let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
            samples.push((window, nanos));
        }
    }

    /// A closed-loop stream: requests back to back until `stop`.
    async fn stream(self, mut random: Random) {
        let mut kept = Vec::with_capacity(1 << 16);
        while !self.stop.load(Ordering::Relaxed) {
            let key = self.live[random.below(self.live.len())];
            let window = self.phase.load(Ordering::Relaxed);
            let started = Instant::now();
            request(&self.store, &key).await;
            if window != 0 {
                kept.push((window, started.elapsed()));
            }
            // The next request is another task's turn, as a server's would be.
            tokio::task::yield_now().await;
        }
        for (window, took) in kept {
            self.keep(window, took);
        }
    }

    /// The open-loop generator (a thread of its own): spawns `rate` requests
    /// per second onto `rt` until `stop`, catching up in a burst when late.
    fn generate(&self, rt: &Runtime, rate: f64, mut random: Random) {
        let started = Instant::now();
        let mut issued = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            for _ in issued..due {
                let key = self.live[random.below(self.live.len())];
                let window = self.phase.load(Ordering::Relaxed);
                let arrived = Instant::now();
                let traffic = self.clone();
                rt.spawn(async move {
                    request(&traffic.store, &key).await;
                    traffic.keep(window, arrived.elapsed());
                });
            }
            issued = issued.max(due);
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}

/// Makes `--expired` percent of the sessions expired, then measures each
/// mode in turn. `keys` are all the store's sessions.
pub(crate) fn measure(
    opts: &Options,
    store: &MemoryStore,
    keys: &[SessionKey],
) -> Vec<SweepFigures> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.workers)
        .enable_all()
        .build()
        .expect("runtime");
    let is_expired = |i: usize| i % 100 < opts.expired;
    let expired: Vec<SessionKey> = (0..keys.len())
        .filter(|&i| is_expired(i))
        .map(|i| keys[i])
        .collect();
    let live: Arc<[SessionKey]> = (0..keys.len())
        .filter(|&i| !is_expired(i))
        .map(|i| keys[i])
        .collect();
    assert!(!live.is_empty(), "--expired must leave live sessions");
    let now = SystemTime::now();
    let past = Record::new(
        sample_data().into(),
        now - Duration::from_secs(7200),
        now - Duration::from_secs(1),
    );
    // Creates the expired sessions anew (the sweep removed them, or the
    // first time, live ones stand under their keys).
    let refill = || {
        rt.block_on(async {
            for key in &expired {
                store.delete(key).await.expect("delete");
                assert!(store.create(key, &past).await.expect("create"));
            }
        });
    };
    Mode::ALL
        .into_iter()
        .filter(|&mode| mode == Mode::Closed || opts.rate > 0)
        .map(|mode| {
            refill();
            let traffic = Traffic {
                store: store.clone(),
                live: Arc::clone(&live),
                phase: Arc::new(AtomicU32::new(0)),
                stop: Arc::new(AtomicBool::new(false)),
                samples: Arc::default(),
            };
            let lengths = std::thread::scope(|scope| {
                let seed =
                    |t: usize| Random(0x2545_f491_4f6c_dd1d ^ ((t as u64 + 1) * 0x9e37_79b9));
                let streams: Vec<_> = match mode {
                    Mode::Closed => (0..opts.tasks)
                        .map(|t| rt.spawn(traffic.clone().stream(seed(t))))
                        .collect(),
                    Mode::Open => {
                        let (traffic, rt) = (&traffic, &rt);
                        scope.spawn(move || traffic.generate(rt, opts.rate as f64, seed(0)));
                        Vec::new()
                    }
                };
                let lengths = rounds(opts, &rt, &traffic, expired.len(), &refill);
                traffic.stop.store(true, Ordering::Relaxed);
                for stream in streams {
                    rt.block_on(stream).expect("request stream");
                }
                lengths
            });
            // Let the last spawned requests finish before reading the samples.
            std::thread::sleep(SETTLE);
            let samples = std::mem::take(&mut *traffic.samples.lock().expect("samples"));
            summarize(mode, &samples, &lengths, expired.len())
        })
        .collect()
}

/// Runs the rounds while the traffic flows; returns each round's window
/// lengths, (without, with).
fn rounds(
    opts: &Options,
    rt: &Runtime,
    traffic: &Traffic,
    expired: usize,
    refill: &dyn Fn(),
) -> Vec<(Duration, Duration)> {
    let phase = &traffic.phase;
    std::thread::sleep(Duration::from_millis(300)); // warm-up
    (0..opts.rounds as u32)
        .map(|round| {
            std::thread::sleep(SETTLE);
            // The sweep runs as a task on the runtime, as `CleanupTask` runs
            // it, and opens and closes its own window.
            let (store, sweep_phase) = (traffic.store.clone(), Arc::clone(phase));
            let (removed, swept) = rt
                .block_on(rt.spawn(async move {
                    sweep_phase.store(2 * round + 2, Ordering::Relaxed);
                    let started = Instant::now();
                    let removed = store.delete_expired().await.expect("delete_expired");
                    let swept = started.elapsed();
                    sweep_phase.store(0, Ordering::Relaxed);
                    (removed, swept)
                }))
                .expect("sweep task");
            assert_eq!(removed, expired as u64);
            std::thread::sleep(SETTLE);
            phase.store(2 * round + 1, Ordering::Relaxed);
            let started = Instant::now();
            std::thread::sleep(swept);
            let without = started.elapsed();
            phase.store(0, Ordering::Relaxed);
            refill();
            (without, swept)
        })
        .collect()
}
