//! The `MemoryStore` at scale: resident memory per session and the time per
//! `create`, `load` and `save` with a million sessions held.
//!
//! From `perf/`:
//!
//! ```text
//! cargo bench --bench scale                              # both stores, about 10 s
//! cargo bench --bench scale -- --store sessionware       # one store
//! cargo bench --bench scale -- --sessions 200000 --ops 50000
//! ```
//!
//! Each store is measured in a child process of its own, so one store's freed
//! memory cannot hide the other's growth. A child creates `--sessions`
//! sessions (default 1,000,000) through the store trait, each holding about
//! 100 bytes of JSON data under a key derived from SHA-256 of a counter, and
//! reads `VmRSS` from `/proc/self/status` before and after: the difference
//! divided by the count is the resident cost of one session (the keys the
//! benchmark itself keeps are allocated before the first reading). Then it
//! times `--ops` loads and `--ops` saves (default 100,000) of random sessions.
//! sessionware's saves are versioned (conditional on the expected version);
//! tower-sessions' are unconditional overwrites, its store having no versions.
//!
//! It prints each store's figures, then a Markdown table; sessionware's
//! target is at most 350 bytes of RSS per session.

use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// sessionware's budget of resident memory per session, in bytes.
const TARGET_BYTES_PER_SESSION: f64 = 350.0;

struct Options {
    store: Option<String>,
    sessions: usize,
    ops: usize,
}

impl Options {
    fn from_args() -> Self {
        // `cargo bench` passes `--bench`; anything we do not know is ignored.
        let args: Vec<String> = std::env::args().skip(1).collect();
        let value = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        let number = |name: &str, default: usize| {
            value(name).map_or(default, |v| {
                v.replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: not a number: {v}"))
            })
        };
        Self {
            store: value("--store"),
            sessions: number("--sessions", 1_000_000).max(1),
            ops: number("--ops", 100_000).max(1),
        }
    }
}

/// What one store measured.
struct Figures {
    store: &'static str,
    data_bytes: usize,
    rss_before: u64,
    rss_after: u64,
    peak: u64,
    create: Duration,
    load: Duration,
    save: Duration,
}

impl Figures {
    fn bytes_per_session(&self, sessions: usize) -> f64 {
        self.rss_after.saturating_sub(self.rss_before) as f64 / sessions as f64
    }

    /// One line the parent process parses.
    fn to_line(&self) -> String {
        format!(
            "RESULT {} {} {} {} {} {} {} {}",
            self.store,
            self.data_bytes,
            self.rss_before,
            self.rss_after,
            self.peak,
            self.create.as_nanos(),
            self.load.as_nanos(),
            self.save.as_nanos(),
        )
    }

    fn from_line(line: &str) -> Option<Self> {
        let mut parts = line.strip_prefix("RESULT ")?.split(' ');
        let store = match parts.next()? {
            "sessionware" => "sessionware",
            "tower-sessions" => "tower-sessions",
            _ => return None,
        };
        let mut next = || parts.next()?.parse::<u64>().ok();
        Some(Self {
            store,
            data_bytes: usize::try_from(next()?).ok()?,
            rss_before: next()?,
            rss_after: next()?,
            peak: next()?,
            create: Duration::from_nanos(next()?),
            load: Duration::from_nanos(next()?),
            save: Duration::from_nanos(next()?),
        })
    }

    fn print(&self, opts: &Options) {
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let per = |total: Duration, count: usize| total.as_nanos() as f64 / count as f64;
        println!(
            "{} MemoryStore: {} sessions of {} bytes of JSON data",
            self.store, opts.sessions, self.data_bytes
        );
        println!(
            "  RSS   {:.1} MiB before, {:.1} MiB after (peak {:.1} MiB): {:.0} bytes per session",
            mib(self.rss_before),
            mib(self.rss_after),
            mib(self.peak),
            self.bytes_per_session(opts.sessions),
        );
        println!(
            "  create {:7.0} ns/op  ({} creates into a growing store)",
            per(self.create, opts.sessions),
            opts.sessions
        );
        println!(
            "  load   {:7.0} ns/op  ({} loads of random sessions)",
            per(self.load, opts.ops),
            opts.ops
        );
        println!(
            "  save   {:7.0} ns/op  ({} saves of random sessions)",
            per(self.save, opts.ops),
            opts.ops
        );
    }
}

/// A `/proc/self/status` field in bytes (`VmRSS`, `VmHWM`).
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// The key bytes of session `i`: SHA-256 of the counter, as real keys are digests.
fn digest(i: usize) -> [u8; 32] {
    Sha256::digest((i as u64).to_le_bytes()).into()
}

/// About 100 bytes of JSON, the shape of a typical login session.
fn sample_data() -> Map<String, Value> {
    let mut data = Map::new();
    data.insert("user_id".into(), Value::from(1_234_567u64));
    data.insert("name".into(), Value::from("user-0001234567"));
    data.insert("role".into(), Value::from("member"));
    data.insert(
        "csrf".into(),
        Value::from("3f9c2a7d41e85b06c1d7e2f0a9b3c4d5"),
    );
    data.insert("n".into(), Value::from(0u64));
    data
}

/// A small, fast generator of random indexes (xorshift64*).
struct Random(u64);

impl Random {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as usize % n
    }
}

fn sessionware(opts: &Options) -> Figures {
    use sessionware::store::{Record, SaveOutcome, SessionKey};
    use sessionware::{MemoryStore, SessionStore};

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let keys: Vec<SessionKey> = (0..opts.sessions)
        .map(|i| SessionKey::from_bytes(digest(i)))
        .collect();
    let mut versions = vec![1u64; opts.sessions];
    let now = SystemTime::now();
    let mut record = Record::new(sample_data().into(), now, now + Duration::from_secs(3600));
    let data_bytes = serde_json::to_string(&record.data).map_or(0, |s| s.len());
    let store = MemoryStore::new();

    let rss_before = status_bytes("VmRSS");
    let started = Instant::now();
    rt.block_on(async {
        for (i, key) in keys.iter().enumerate() {
            record.data.insert("user_id", &i).expect("user_id");
            assert!(store.create(key, &record).await.expect("create"));
        }
    });
    let create = started.elapsed();
    let rss_after = status_bytes("VmRSS");
    assert_eq!(store.len(), opts.sessions);

    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    rt.block_on(async {
        for _ in 0..opts.ops {
            let key = &keys[random.below(keys.len())];
            black_box(store.load(key).await.expect("load").expect("present"));
        }
    });
    let load = started.elapsed();

    let started = Instant::now();
    rt.block_on(async {
        for _ in 0..opts.ops {
            let i = random.below(keys.len());
            record.version = versions[i] + 1;
            let outcome = store.save(&keys[i], &record, versions[i]).await;
            assert_eq!(outcome.expect("save"), SaveOutcome::Saved);
            versions[i] += 1;
        }
    });
    let save = started.elapsed();

    // A sweep that finds nothing to remove: the cost of reading every
    // session's deadline (what a periodic `delete_expired` pays).
    let started = Instant::now();
    let removed = rt.block_on(store.delete_expired()).expect("delete_expired");
    assert_eq!(removed, 0);
    println!(
        "  sweep    {:.1} ms  (delete_expired over {} live sessions, none expired)",
        started.elapsed().as_secs_f64() * 1000.0,
        opts.sessions
    );

    Figures {
        store: "sessionware",
        data_bytes,
        rss_before,
        rss_after,
        peak: status_bytes("VmHWM"),
        create,
        load,
        save,
    }
}

fn tower_sessions(opts: &Options) -> Figures {
    use tower_sessions::cookie::time::{Duration as TimeDuration, OffsetDateTime};
    use tower_sessions::session::{Id, Record};
    use tower_sessions::{MemoryStore, SessionStore};

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let ids: Vec<Id> = (0..opts.sessions)
        .map(|i| {
            let bytes = digest(i);
            let head: [u8; 16] = bytes[..16].try_into().expect("16 bytes");
            Id(i128::from_le_bytes(head))
        })
        .collect();
    let mut record = Record {
        id: ids[0],
        data: sample_data().into_iter().collect(),
        expiry_date: OffsetDateTime::now_utc() + TimeDuration::hours(1),
    };
    let data_bytes = serde_json::to_string(&record.data).map_or(0, |s| s.len());
    let store = MemoryStore::default();

    let rss_before = status_bytes("VmRSS");
    let started = Instant::now();
    rt.block_on(async {
        for (i, id) in ids.iter().enumerate() {
            record.id = *id;
            *record.data.get_mut("user_id").expect("user_id") = Value::from(i);
            store.create(&mut record).await.expect("create");
        }
    });
    let create = started.elapsed();
    let rss_after = status_bytes("VmRSS");

    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    rt.block_on(async {
        for _ in 0..opts.ops {
            let id = &ids[random.below(ids.len())];
            black_box(store.load(id).await.expect("load").expect("present"));
        }
    });
    let load = started.elapsed();

    let started = Instant::now();
    rt.block_on(async {
        for _ in 0..opts.ops {
            record.id = ids[random.below(ids.len())];
            store.save(&record).await.expect("save");
        }
    });
    let save = started.elapsed();

    Figures {
        store: "tower-sessions",
        data_bytes,
        rss_before,
        rss_after,
        peak: status_bytes("VmHWM"),
        create,
        load,
        save,
    }
}

/// Runs this benchmark again for one store and reads its result line.
fn child(opts: &Options, store: &str) -> Option<Figures> {
    let output = Command::new(std::env::current_exe().ok()?)
        .args(["--store", store])
        .args(["--sessions", &opts.sessions.to_string()])
        .args(["--ops", &opts.ops.to_string()])
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!(
            "scale: the {store} run failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(Figures::from_line)
}

fn main() -> ExitCode {
    let opts = Options::from_args();
    let figures = match opts.store.as_deref() {
        Some("sessionware") => sessionware(&opts),
        Some("tower-sessions") => tower_sessions(&opts),
        Some(other) => {
            eprintln!("--store: expected sessionware or tower-sessions, got {other}");
            return ExitCode::FAILURE;
        }
        None => return compare(&opts),
    };
    figures.print(&opts);
    println!("{}", figures.to_line());
    ExitCode::SUCCESS
}

fn compare(opts: &Options) -> ExitCode {
    let mut all = Vec::new();
    for store in ["sessionware", "tower-sessions"] {
        match child(opts, store) {
            Some(figures) => {
                figures.print(opts);
                all.push(figures);
            }
            None => return ExitCode::FAILURE,
        }
    }
    let per = |total: Duration, count: usize| total.as_nanos() as f64 / count as f64;
    println!(
        "\n| store ({} sessions) | RSS per session | create | load | save |",
        opts.sessions
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for f in &all {
        println!(
            "| {} | {:.0} B | {:.0} ns | {:.0} ns | {:.0} ns |",
            f.store,
            f.bytes_per_session(opts.sessions),
            per(f.create, opts.sessions),
            per(f.load, opts.ops),
            per(f.save, opts.ops),
        );
    }
    let ours = all[0].bytes_per_session(opts.sessions);
    let met = ours <= TARGET_BYTES_PER_SESSION;
    println!(
        "\nsessionware: {ours:.0} bytes per session, target ≤ {TARGET_BYTES_PER_SESSION:.0}: {}",
        if met { "met" } else { "MISSED" }
    );
    ExitCode::SUCCESS
}
