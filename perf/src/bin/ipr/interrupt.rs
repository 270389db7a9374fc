//! SIGINT, SIGTERM and SIGHUP during `ipr measure`: the Redis keys made so
//! far are deleted, then the driver exits with status 130. The server of the
//! cell under way exits by itself once the driver is gone (its standard
//! input, a pipe from the driver, closes).

use std::sync::{Arc, Mutex, PoisonError};

use tokio::signal::unix::{SignalKind, signal};

use crate::redis_keys::RedisKeys;

/// The ids of tower-sessions' Redis records not deleted yet.
pub(crate) type Pending = Arc<Mutex<Vec<String>>>;

/// Watches for the signals on a thread of its own.
pub(crate) fn watch(redis: Option<RedisKeys>, pending: Pending) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    // Registered here, before any server starts, so that no signal is missed.
    let (mut int, mut term, mut hup) = runtime
        .block_on(async {
            Ok::<_, std::io::Error>((
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
                signal(SignalKind::hangup())?,
            ))
        })
        .map_err(|e| format!("signal handlers: {e}"))?;
    std::thread::spawn(move || {
        let name = runtime.block_on(async {
            tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => "SIGHUP",
            }
        });
        eprintln!("ipr: {name}: stopping");
        if let Some(redis) = redis {
            let ids = std::mem::take(&mut *pending.lock().unwrap_or_else(PoisonError::into_inner));
            match redis.delete(&ids) {
                Ok(summary) => eprintln!("ipr: Redis clean-up: {summary}"),
                Err(err) => eprintln!("ipr: Redis clean-up failed: {err}"),
            }
        }
        std::process::exit(130);
    });
    Ok(())
}
