//! sessionware's `MemoryStore`: resident memory, create, load and save at a
//! small and a large size, then the requests during a sweep (`sweep.rs`).

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use sessionware::store::{Record, SaveOutcome, SessionKey};
use sessionware::{MemoryStore, SessionStore};
use tokio::runtime::Runtime;

use crate::common::{OpCosts, Random, Stats, alternate, digest, sample_data, status_bytes};
use crate::{Figures, Options, sweep};

/// A filled store, its keys and each session's current version.
struct Held {
    store: MemoryStore,
    keys: Vec<SessionKey>,
    versions: Vec<u64>,
}

impl Held {
    /// An empty store and the keys `first..first + count`.
    fn keys(first: usize, count: usize) -> Self {
        Self {
            store: MemoryStore::new(),
            keys: (first..first + count)
                .map(|i| SessionKey::from_bytes(digest(i)))
                .collect(),
            versions: vec![1; count],
        }
    }

    /// Creates every session; returns the time it took.
    fn fill(&self, rt: &Runtime, record: &mut Record) -> Duration {
        rt.block_on(async {
            let started = Instant::now();
            for (i, key) in self.keys.iter().enumerate() {
                record.data.insert("user_id", &i).expect("user_id");
                assert!(self.store.create(key, record).await.expect("create"));
            }
            started.elapsed()
        })
    }

    /// Times `n` loads of random sessions. The keys are drawn before the
    /// clock starts, so only the store's work is timed.
    fn load_batch(&self, rt: &Runtime, random: &mut Random, n: usize) -> Duration {
        let batch: Vec<SessionKey> = (0..n)
            .map(|_| self.keys[random.below(self.keys.len())])
            .collect();
        rt.block_on(async {
            let started = Instant::now();
            for key in &batch {
                black_box(self.store.load(key).await.expect("load").expect("present"));
            }
            started.elapsed()
        })
    }

    /// Times `n` versioned saves of random sessions (keys and expected
    /// versions drawn before the clock starts).
    fn save_batch(
        &mut self,
        rt: &Runtime,
        random: &mut Random,
        record: &mut Record,
        n: usize,
    ) -> Duration {
        let batch: Vec<(SessionKey, u64)> = (0..n)
            .map(|_| {
                let i = random.below(self.keys.len());
                self.versions[i] += 1;
                (self.keys[i], self.versions[i] - 1)
            })
            .collect();
        rt.block_on(async {
            let started = Instant::now();
            for (key, expected) in &batch {
                record.version = expected + 1;
                let outcome = self.store.save(key, record, *expected).await;
                assert_eq!(outcome.expect("save"), SaveOutcome::Saved);
            }
            started.elapsed()
        })
    }
}

pub(crate) fn measure(opts: &Options) -> Figures {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut big = Held::keys(0, opts.sessions);
    let now = SystemTime::now();
    let mut record = Record::new(sample_data().into(), now, now + Duration::from_secs(3600));
    let data_bytes = serde_json::to_string(&record.data).map_or(0, |s| s.len());

    let rss_before = status_bytes("VmRSS");
    let create = big.fill(&rt, &mut record);
    let rss_after = status_bytes("VmRSS");
    assert_eq!(big.store.len(), opts.sessions);

    // A sweep that finds nothing to remove: the cost of reading every
    // session's deadline (what a periodic `delete_expired` pays).
    let started = Instant::now();
    let removed = rt
        .block_on(big.store.delete_expired())
        .expect("delete_expired");
    assert_eq!(removed, 0);
    let idle_sweep = started.elapsed();

    // The small store is made after the RSS readings, so it cannot count.
    let mut small = Held::keys(opts.sessions, opts.small);
    small.fill(&rt, &mut record);
    let per_batch = opts.per_batch();
    let (mut random_small, mut random_big) =
        (Random(0x9e37_79b9_7f4a_7c15), Random(0x9e37_79b9_7f4a_7c15));
    let (load_small, load_big) = alternate(
        opts.batches,
        || small.load_batch(&rt, &mut random_small, per_batch),
        || big.load_batch(&rt, &mut random_big, per_batch),
    );
    let mut record_small = record.clone();
    let (save_small, save_big) = alternate(
        opts.batches,
        || small.save_batch(&rt, &mut random_small, &mut record_small, per_batch),
        || big.save_batch(&rt, &mut random_big, &mut record, per_batch),
    );
    drop(small);
    let ops = OpCosts {
        load_small: Stats::of(&load_small, per_batch),
        load_big: Stats::of(&load_big, per_batch),
        save_small: Stats::of(&save_small, per_batch),
        save_big: Stats::of(&save_big, per_batch),
    };
    let peak = status_bytes("VmHWM");
    drop(rt);

    let sweeps = if opts.rounds > 0 {
        sweep::measure(opts, &big.store, &big.keys)
    } else {
        Vec::new()
    };

    Figures {
        store: "sessionware",
        data_bytes,
        rss_before,
        rss_after,
        peak,
        create,
        idle_sweep: Some(idle_sweep),
        ops,
        sweeps,
    }
}
