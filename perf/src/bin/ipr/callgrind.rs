//! A server under `valgrind --tool=callgrind`: started, zeroed, dumped, and
//! killed however the driver leaves (the guard's `Drop`; and the server's
//! `--watch-stdin`, should the driver itself be killed).

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long valgrind may take to start the server.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// How long a dump may take to appear.
const DUMP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server under callgrind; killed when dropped.
pub(crate) struct Server {
    child: Child,
    addr: SocketAddr,
    out: PathBuf,
    log: PathBuf,
    dumps: u32,
}

impl Server {
    /// Starts `exe serve ARGS --port 0 --watch-stdin` under callgrind, its
    /// dumps at `out.1`, `out.2`, ... and valgrind's messages in `out.log`,
    /// and waits until it listens.
    pub(crate) fn start(exe: &Path, args: &[String], out: &Path) -> Result<Self, String> {
        remove_stale(out);
        let log = suffixed(out, "log");
        let log_file = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg("--dump-instr=no")
            .arg("--collect-atstart=yes")
            .arg(exe)
            .arg("serve")
            .args(args)
            .args(["--port", "0", "--watch-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start valgrind: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        // From here on, dropping `server` kills valgrind.
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            out: out.to_path_buf(),
            log,
            dumps: 0,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep reading, so the server can never block on its stdout.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(_) => return Err(server.failed("the server exited before listening")),
            Err(_) => return Err(server.failed("the server did not start in time")),
        };
        server.addr = line
            .strip_prefix("listening on ")
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| format!("unexpected first line from the server: {line:?}"))?;
        Ok(server)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `callgrind_control -z`: zeroes the counters.
    pub(crate) fn zero(&self) -> Result<(), String> {
        self.control("-z")
    }

    /// `callgrind_control -d`: dumps the counters since the last zeroing or
    /// dump, and returns the dump file once it is complete.
    pub(crate) fn dump(&mut self) -> Result<PathBuf, String> {
        self.control("-d")?;
        self.dumps += 1;
        let dump = suffixed(&self.out, &self.dumps.to_string());
        let started = Instant::now();
        loop {
            // The `totals:` line comes last.
            if total_instructions(&dump).is_ok() {
                return Ok(dump);
            }
            if started.elapsed() > DUMP_TIMEOUT {
                return Err(format!("no complete dump at {}", dump.display()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn control(&self, what: &str) -> Result<(), String> {
        let output = Command::new("callgrind_control")
            .arg(what)
            .arg(self.child.id().to_string())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run callgrind_control: {e}"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() || !text.contains("OK") {
            return Err(format!(
                "callgrind_control {what} {}: {}{}",
                self.child.id(),
                text.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(())
    }

    /// `what`, with the end of valgrind's log.
    fn failed(&mut self, what: &str) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("{what} ({}):\n{}", self.log.display(), tail.join("\n"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `path.suffix`.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes `out` and `out.*` left by an earlier run.
fn remove_stale(out: &Path) {
    let (Some(dir), Some(name)) = (out.parent(), out.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let prefix = format!("{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file == name || file.starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The instructions counted in a dump: its `totals:` line (the sum of its
/// cost lines), else its `summary:` line.
pub(crate) fn total_instructions(dump: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(dump).map_err(|e| format!("{}: {e}", dump.display()))?;
    let find = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|value| value.split_whitespace().next()?.parse::<u64>().ok())
    };
    find("totals:")
        .or_else(|| find("summary:"))
        .ok_or_else(|| format!("{}: no totals", dump.display()))
}
