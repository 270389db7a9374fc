//! The session layers, configured alike in every app: one random secret per
//! process, cookies without `Secure` (the apps are served over plain HTTP on
//! loopback), and, when asked, an idle timeout.

use std::sync::OnceLock;
use std::time::Duration;

/// One random 64-byte secret per process, shared by every sessionware layer
/// it builds; a deployment reads its secret from its secret store instead.
pub fn secret() -> &'static [u8; 64] {
    static SECRET: OnceLock<[u8; 64]> = OnceLock::new();
    SECRET.get_or_init(rand::random)
}

/// sessionware's layer over `store`; `idle`, when given, ends sessions after
/// that long without a request (`Expiry::OnInactivity`), else sessionware's
/// default expiry applies.
pub fn sessionware(
    store: impl sessionware::SessionStore,
    idle: Option<Duration>,
) -> sessionware::SessionLayer {
    let mut layer = sessionware::SessionLayer::new(store, secret()).secure(false);
    if let Some(idle) = idle {
        layer = layer.expiry(sessionware::Expiry::OnInactivity(idle));
    }
    layer
}

/// tower-sessions' layer over `store`; `idle`, when given, ends sessions after
/// that long without a change (tower-sessions writes a session back only when
/// it changed), else tower-sessions' default expiry applies.
pub fn tower_sessions<S>(store: S, idle: Option<Duration>) -> tower_sessions::SessionManagerLayer<S>
where
    S: tower_sessions::SessionStore + Clone,
{
    use tower_sessions::Expiry;
    use tower_sessions::cookie::time;

    let mut layer = tower_sessions::SessionManagerLayer::new(store).with_secure(false);
    if let Some(idle) = idle {
        let seconds = i64::try_from(idle.as_secs()).unwrap_or(i64::MAX);
        layer = layer.with_expiry(Expiry::OnInactivity(time::Duration::seconds(seconds)));
    }
    layer
}
