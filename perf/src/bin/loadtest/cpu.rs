//! CPU time from `/proc`: per thread name, for the machine, for this process.

use std::time::Duration;

/// CPU time (user + system) of this process's threads whose name starts with `prefix`.
pub(crate) fn thread_cpu(prefix: &str) -> Duration {
    let mut ticks = 0u64;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        // After the name: state, ppid, ... with utime and stime 12th and 13th.
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        for index in [11, 12] {
            ticks += fields.get(index).and_then(|f| f.parse().ok()).unwrap_or(0);
        }
    }
    // Linux reports these in USER_HZ, 100 per second on every common platform.
    Duration::from_millis(ticks * 10)
}

/// CPU time used by the whole machine (every core, idle and I/O wait excluded)
/// and by this process, from `/proc/stat` and `/proc/self/stat`.
pub(crate) fn machine_and_own_cpu() -> (Duration, Duration) {
    let ticks = |fields: &[&str], indexes: &[usize]| -> u64 {
        indexes
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum()
    };
    let machine = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let machine: Vec<&str> = machine
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // cpu user nice system idle iowait irq softirq steal
    let machine = ticks(&machine, &[1, 2, 3, 6, 7, 8]);
    let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let own = own.rsplit_once(')').map_or(0, |(_, rest)| {
        ticks(&rest.split_whitespace().collect::<Vec<_>>(), &[11, 12])
    });
    (
        Duration::from_millis(machine * 10),
        Duration::from_millis(own * 10),
    )
}
