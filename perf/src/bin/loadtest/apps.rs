//! The apps under test (bare axum, tower-sessions, sessionware) with their
//! four routes, and the scenarios that load them.

use std::time::Duration;

use axum::Router;
use axum::routing::get;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum App {
    Bare,
    TowerSessions,
    Sessionware,
    TowerSessionsRedis,
    SessionwareRedis,
    SessionwareRedisCache,
    TowerSessionsCluster,
    SessionwareCluster,
    SessionwareClusterCache,
}

/// Every app; the in-memory ones first, as the tables index them so.
pub(crate) const APPS: [App; 9] = [
    App::Bare,
    App::TowerSessions,
    App::Sessionware,
    App::TowerSessionsRedis,
    App::SessionwareRedis,
    App::SessionwareRedisCache,
    App::TowerSessionsCluster,
    App::SessionwareCluster,
    App::SessionwareClusterCache,
];

/// Where a Redis app keeps its sessions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Deployment {
    /// One Redis node (`--redis`, `--redis-url`).
    Node,
    /// A Redis Cluster (`--redis-cluster`).
    Cluster,
}

impl Deployment {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Deployment::Node => "one Redis node",
            Deployment::Cluster => "Redis Cluster",
        }
    }
}

/// The implementations the Redis tables compare, in their column order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    TowerSessions,
    Sessionware,
    /// sessionware's `RedisStore` with its local read cache.
    SessionwareCache,
}

impl App {
    pub(crate) fn name(self) -> &'static str {
        match self {
            App::Bare => "bare axum",
            App::TowerSessions => "tower-sessions",
            App::Sessionware => "sessionware",
            App::TowerSessionsRedis => "tower-sessions+Redis",
            App::SessionwareRedis => "sessionware+Redis",
            App::SessionwareRedisCache => "sessionware+Redis+cache",
            App::TowerSessionsCluster => "tower-sessions+Cluster",
            App::SessionwareCluster => "sessionware+Cluster",
            App::SessionwareClusterCache => "sessionware+Cluster+cache",
        }
    }

    /// The name `--only` takes.
    pub(crate) fn key(self) -> &'static str {
        match self {
            App::Bare => "bare",
            App::TowerSessions => "tower-sessions",
            App::Sessionware => "sessionware",
            App::TowerSessionsRedis => "tower-sessions-redis",
            App::SessionwareRedis => "sessionware-redis",
            App::SessionwareRedisCache => "sessionware-redis-cache",
            App::TowerSessionsCluster => "tower-sessions-cluster",
            App::SessionwareCluster => "sessionware-cluster",
            App::SessionwareClusterCache => "sessionware-cluster-cache",
        }
    }

    /// Where its sessions are, for the Redis apps.
    pub(crate) fn deployment(self) -> Option<Deployment> {
        match self {
            App::Bare | App::TowerSessions | App::Sessionware => None,
            App::TowerSessionsRedis | App::SessionwareRedis | App::SessionwareRedisCache => {
                Some(Deployment::Node)
            }
            App::TowerSessionsCluster | App::SessionwareCluster | App::SessionwareClusterCache => {
                Some(Deployment::Cluster)
            }
        }
    }

    /// Which implementation it is, for the Redis apps.
    pub(crate) fn flavour(self) -> Option<Flavour> {
        match self {
            App::Bare | App::TowerSessions | App::Sessionware => None,
            App::TowerSessionsRedis | App::TowerSessionsCluster => Some(Flavour::TowerSessions),
            App::SessionwareRedis | App::SessionwareCluster => Some(Flavour::Sessionware),
            App::SessionwareRedisCache | App::SessionwareClusterCache => {
                Some(Flavour::SessionwareCache)
            }
        }
    }

    /// The Redis app of `flavour` on `deployment`.
    pub(crate) fn redis(deployment: Deployment, flavour: Flavour) -> App {
        APPS.into_iter()
            .find(|app| app.deployment() == Some(deployment) && app.flavour() == Some(flavour))
            .expect("every deployment has every flavour")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    Ignore,
    Read,
    Write,
    New,
}

pub(crate) const SCENARIOS: [Scenario; 4] = [
    Scenario::Ignore,
    Scenario::Read,
    Scenario::Write,
    Scenario::New,
];

impl Scenario {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Scenario::Ignore => "/ignore",
            Scenario::Read => "/read",
            Scenario::Write => "/write",
            Scenario::New => "/new",
        }
    }

    pub(crate) fn sends_cookie(self) -> bool {
        self != Scenario::New
    }

    /// The lowest acceptable sessionware/bare throughput ratio.
    pub(crate) fn target(self) -> f64 {
        match self {
            Scenario::Ignore => 0.97,
            Scenario::Read => 0.92,
            Scenario::Write => 0.85,
            Scenario::New => 0.75,
        }
    }

    /// The lowest acceptable (sessionware + Redis)/(tower-sessions + Redis)
    /// throughput ratio; `/ignore` touches no store and has none.
    pub(crate) fn redis_target(self) -> Option<f64> {
        (self != Scenario::Ignore).then_some(1.5)
    }
}

pub(crate) fn bare_app() -> Router {
    async fn ok() -> &'static str {
        "ok"
    }
    Router::new()
        .route("/ignore", get(ok))
        .route("/read", get(ok))
        .route("/write", get(ok))
        .route("/new", get(ok))
}

/// The four routes behind sessionware's layer over `store`; `idle`, when
/// given, ends sessions after that long without a request.
pub(crate) fn sessionware_app(
    store: impl sessionware::SessionStore,
    idle: Option<Duration>,
) -> Router {
    use sessionware::{Error, Session};

    async fn ignore() -> &'static str {
        "ok"
    }
    async fn read(session: Session) -> Result<String, Error> {
        let n: u64 = session.get("n")?.unwrap_or(0);
        Ok(n.to_string())
    }
    async fn write(session: Session) -> Result<String, Error> {
        let n: u64 = session.get("n")?.unwrap_or(0);
        session.insert("n", n + 1)?;
        Ok(n.to_string())
    }
    async fn new(session: Session) -> Result<&'static str, Error> {
        session.insert("n", 0u64)?;
        Ok("ok")
    }
    // One random secret per run (`layers::secret`), shared by every app this
    // process builds.
    let layer = sessionware_perf::layers::sessionware(store, idle);
    Router::new()
        .route("/ignore", get(ignore))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/new", get(new))
        .layer(layer)
}

/// The four routes behind tower-sessions' layer over `store`; `idle`, when
/// given, ends sessions after that long without a change (tower-sessions
/// writes a session back only when it changed).
pub(crate) fn tower_sessions_app<S>(store: S, idle: Option<Duration>) -> Router
where
    S: tower_sessions::SessionStore + Clone,
{
    use axum::http::StatusCode;
    use tower_sessions::Session;

    fn fail(_: tower_sessions::session::Error) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    async fn ignore() -> &'static str {
        "ok"
    }
    async fn read(session: Session) -> Result<String, StatusCode> {
        let n: u64 = session.get("n").await.map_err(fail)?.unwrap_or(0);
        Ok(n.to_string())
    }
    async fn write(session: Session) -> Result<String, StatusCode> {
        let n: u64 = session.get("n").await.map_err(fail)?.unwrap_or(0);
        session.insert("n", n + 1).await.map_err(fail)?;
        Ok(n.to_string())
    }
    async fn new(session: Session) -> Result<&'static str, StatusCode> {
        session.insert("n", 0u64).await.map_err(fail)?;
        Ok("ok")
    }
    let layer = sessionware_perf::layers::tower_sessions(store, idle);
    Router::new()
        .route("/ignore", get(ignore))
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/new", get(new))
        .layer(layer)
}
