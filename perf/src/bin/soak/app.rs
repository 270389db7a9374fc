//! One app instance: sessionware's layer over a `RedisStore` of its own
//! (its own connections), the four routes of the mix, and the clean-up job
//! an application runs beside it.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use sessionware::{CleanupTask, Error, RedisStore, Session};
use tokio::net::TcpListener;

use crate::options::Options;

/// How long a session may sit idle: what a killed run leaves expires then.
const IDLE: Duration = Duration::from_secs(900);

/// A running instance: its address and its clean-up job.
pub(crate) struct Instance {
    pub(crate) addr: SocketAddr,
    /// Kept alive for the run: the job ends when dropped.
    _cleanup: CleanupTask,
}

/// A store of its own on the deployment `opts` names, under `prefix`.
pub(crate) async fn store(opts: &Options, prefix: &str) -> Result<RedisStore, Error> {
    let store = match &opts.redis_url {
        Some(url) => RedisStore::connect(url).await?,
        None => RedisStore::connect_cluster(&opts.cluster).await?,
    };
    Ok(store.key_prefix(prefix))
}

/// The routes: `/read` reads `n`, `/write` increments it, `/login/{user}`
/// signs the session in as `user` (a fresh id), `/logout` ends it. Every
/// answer is 200 unless the session layer fails.
fn router(store: RedisStore) -> Router {
    async fn read(session: Session) -> Result<String, Error> {
        let n: u64 = session.get("n")?.unwrap_or(0);
        Ok(n.to_string())
    }
    async fn write(session: Session) -> Result<String, Error> {
        let n: u64 = session.get("n")?.unwrap_or(0);
        session.insert("n", n + 1)?;
        Ok((n + 1).to_string())
    }
    async fn login(session: Session, Path(user): Path<String>) -> &'static str {
        session.login(user);
        "ok"
    }
    async fn logout(session: Session) -> &'static str {
        session.logout();
        "ok"
    }
    Router::new()
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/login/{user}", get(login))
        .route("/logout", get(logout))
        .layer(sessionware_perf::layers::sessionware(store, Some(IDLE)))
}

/// Serves an instance over `store` on an ephemeral loopback port, with a
/// `CleanupTask` every `cleanup` (on Redis `delete_expired` has nothing to
/// do, but an application runs it whatever its store).
pub(crate) async fn serve(store: RedisStore, cleanup: Duration) -> std::io::Result<Instance> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let job = CleanupTask::spawn(store.clone(), cleanup);
    let app = router(store);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            eprintln!("soak: the server on {addr} failed: {err}");
        }
    });
    Ok(Instance {
        addr,
        _cleanup: job,
    })
}
