//! tower-sessions' `MemoryStore`, measured as `ours.rs` measures
//! sessionware's: resident memory, create, load and save at two sizes. It has
//! no `delete_expired` (it filters expired records on load), so no sweep.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::runtime::Runtime;
use tower_sessions::cookie::time::{Duration as TimeDuration, OffsetDateTime};
use tower_sessions::session::{Id, Record};
use tower_sessions::{MemoryStore, SessionStore};

use crate::common::{OpCosts, Random, Stats, alternate, digest, sample_data, status_bytes};
use crate::{Figures, Options};

/// A filled store and its ids.
struct Held {
    store: MemoryStore,
    ids: Vec<Id>,
}

impl Held {
    /// An empty store and the ids of sessions `first..first + count`.
    fn ids(first: usize, count: usize) -> Self {
        let ids = (first..first + count)
            .map(|i| {
                let bytes = digest(i);
                let head: [u8; 16] = bytes[..16].try_into().expect("16 bytes");
                Id(i128::from_le_bytes(head))
            })
            .collect();
        Self {
            store: MemoryStore::default(),
            ids,
        }
    }

    fn fill(&self, rt: &Runtime, record: &mut Record) -> Duration {
        rt.block_on(async {
            let started = Instant::now();
            for (i, id) in self.ids.iter().enumerate() {
                record.id = *id;
                *record.data.get_mut("user_id").expect("user_id") = Value::from(i);
                self.store.create(record).await.expect("create");
            }
            started.elapsed()
        })
    }

    fn load_batch(&self, rt: &Runtime, random: &mut Random, n: usize) -> Duration {
        let batch: Vec<Id> = (0..n)
            .map(|_| self.ids[random.below(self.ids.len())])
            .collect();
        rt.block_on(async {
            let started = Instant::now();
            for id in &batch {
                black_box(self.store.load(id).await.expect("load").expect("present"));
            }
            started.elapsed()
        })
    }

    /// Unconditional overwrites: this store has no versions.
    fn save_batch(
        &self,
        rt: &Runtime,
        random: &mut Random,
        record: &mut Record,
        n: usize,
    ) -> Duration {
        let batch: Vec<Id> = (0..n)
            .map(|_| self.ids[random.below(self.ids.len())])
            .collect();
        rt.block_on(async {
            let started = Instant::now();
            for id in &batch {
                record.id = *id;
                self.store.save(record).await.expect("save");
            }
            started.elapsed()
        })
    }
}

pub(crate) fn measure(opts: &Options) -> Figures {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let big = Held::ids(0, opts.sessions);
    let mut record = Record {
        id: big.ids[0],
        data: sample_data().into_iter().collect(),
        expiry_date: OffsetDateTime::now_utc() + TimeDuration::hours(1),
    };
    let data_bytes = serde_json::to_string(&record.data).map_or(0, |s| s.len());

    let rss_before = status_bytes("VmRSS");
    let create = big.fill(&rt, &mut record);
    let rss_after = status_bytes("VmRSS");

    let small = Held::ids(opts.sessions, opts.small);
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

    Figures {
        store: "tower-sessions",
        data_bytes,
        rss_before,
        rss_after,
        peak: status_bytes("VmHWM"),
        create,
        idle_sweep: None,
        ops: OpCosts {
            load_small: Stats::of(&load_small, per_batch),
            load_big: Stats::of(&load_big, per_batch),
            save_small: Stats::of(&save_small, per_batch),
            save_big: Stats::of(&save_big, per_batch),
        },
        sweeps: Vec::new(),
    }
}
