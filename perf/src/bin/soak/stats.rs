//! What each client records: latencies in a histogram per time bucket, and
//! every error with its time and kind. Clients record on their own and the
//! records are merged at the end, so that recording takes no lock; all the
//! memory is taken, and touched, before the run, so that it does not count
//! as growth in the RSS comparison.

use std::time::Duration;

/// Histogram bins per time bucket: 16 per power of two of microseconds
/// (about 4.4 % wide), up to 2^25 µs (33 s).
const BINS: usize = 25 * 16;

/// The bin of a latency.
fn bin(latency: Duration) -> usize {
    let micros = latency.as_micros().max(1) as f64;
    ((micros.log2() * 16.0) as usize).min(BINS - 1)
}

/// The upper edge of a bin, in milliseconds.
fn bin_ms(bin: usize) -> f64 {
    2f64.powf((bin + 1) as f64 / 16.0) / 1000.0
}

/// One failed request.
#[derive(Clone, Debug)]
pub(crate) struct Error {
    /// Seconds since the start of the run.
    pub(crate) at: f64,
    /// `status 500`, `connection` or `timeout`.
    pub(crate) kind: String,
    /// The request and what went wrong, for the first few printed.
    pub(crate) detail: String,
}

/// A client's record, or all clients' merged.
pub(crate) struct Record {
    bucket: Duration,
    /// `BINS` counts per time bucket.
    histogram: Vec<u32>,
    pub(crate) served: u64,
    pub(crate) errors: Vec<Error>,
}

impl Record {
    /// Room for `duration`; the replies that straddle its end count in the
    /// last bucket.
    pub(crate) fn new(duration: Duration, bucket: Duration) -> Self {
        let buckets = ((duration.as_secs_f64() / bucket.as_secs_f64()).ceil() as usize).max(1);
        let mut histogram = vec![0u32; buckets * BINS];
        // Touch every page now, so that the RSS does not grow with the run.
        for count in histogram.iter_mut() {
            *std::hint::black_box(count) = 0;
        }
        Self {
            bucket,
            histogram,
            served: 0,
            errors: Vec::with_capacity(64),
        }
    }

    fn buckets(&self) -> usize {
        self.histogram.len() / BINS
    }

    /// A request answered 200 at `at` seconds after `latency`.
    pub(crate) fn ok(&mut self, at: f64, latency: Duration) {
        let bucket = ((at / self.bucket.as_secs_f64()) as usize).min(self.buckets() - 1);
        self.histogram[bucket * BINS + bin(latency)] += 1;
        self.served += 1;
    }

    pub(crate) fn error(&mut self, error: Error) {
        self.errors.push(error);
    }

    pub(crate) fn merge(&mut self, other: Record) {
        for (mine, theirs) in self.histogram.iter_mut().zip(&other.histogram) {
            *mine += theirs;
        }
        self.served += other.served;
        self.errors.extend(other.errors);
    }

    /// Per time bucket with any traffic: its start (s), the requests
    /// served, and the 50th and 99th percentile and the maximum latency (ms).
    pub(crate) fn per_bucket(&self) -> Vec<Bucket> {
        self.histogram
            .chunks(BINS)
            .enumerate()
            .map(|(index, bins)| {
                let served: u64 = bins.iter().map(|&c| u64::from(c)).sum();
                let quantile = |q: f64| {
                    let rank = (served as f64 * q).ceil().max(1.0) as u64;
                    let mut seen = 0u64;
                    for (bin, &count) in bins.iter().enumerate() {
                        seen += u64::from(count);
                        if seen >= rank {
                            return bin_ms(bin);
                        }
                    }
                    f64::NAN
                };
                let start = index as f64 * self.bucket.as_secs_f64();
                let end = start + self.bucket.as_secs_f64();
                Bucket {
                    start,
                    served,
                    errors: self
                        .errors
                        .iter()
                        .filter(|e| e.at >= start && e.at < end)
                        .count() as u64,
                    p50_ms: quantile(0.50),
                    p99_ms: quantile(0.99),
                    max_ms: bins.iter().rposition(|&c| c > 0).map_or(f64::NAN, bin_ms),
                }
            })
            .filter(|bucket| bucket.served > 0 || bucket.errors > 0)
            .collect()
    }
}

/// One time bucket of the merged record.
pub(crate) struct Bucket {
    pub(crate) start: f64,
    pub(crate) served: u64,
    pub(crate) errors: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}
