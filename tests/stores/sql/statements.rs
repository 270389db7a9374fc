//! What the SQL server stores send for a listing: the statements sqlx logs
//! (target `sqlx::query`), caught by a subscriber on the test's own thread
//! (`#[tokio::test]` runs every task there, the queries' included).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sessionware::UserIndex;
use sessionware::store::SessionKey;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::common::{owned_by, user};

/// Keeps the fields of every event sqlx logs for a statement.
#[derive(Clone, Default)]
struct Statements(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct Fields(String);
        impl Visit for Fields {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        if event.metadata().target() == "sqlx::query" {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            // A statement slower than sqlx's alert threshold (a loaded
            // machine) is logged a second time, as a warning: one
            // statement all the same.
            if !fields.0.contains("slow statement") {
                self.0.lock().unwrap().push(fields.0);
            }
        }
    }
}

/// The statements on `table` that `run` sends, and its output.
async fn counted<T>(table: &str, run: impl Future<Output = T>) -> (T, Vec<String>) {
    let statements = Statements::default();
    let subscriber = tracing_subscriber::registry().with(statements.clone());
    let output = {
        let _guard = tracing::subscriber::set_default(subscriber);
        run.await
    };
    let mut logged = statements.0.lock().unwrap().clone();
    logged.retain(|statement| statement.contains(table));
    (output, logged)
}

/// Twenty sessions of a user (besides another user's and a guest's) are
/// listed with one `SELECT`; the listing built on `keys_of` and `load`
/// sends 21.
pub(crate) async fn twenty_sessions_are_one_statement<S: UserIndex>(store: &S, table: &str) {
    let (alice, bob) = (user("alice"), user("bob"));
    for i in 0..20 {
        let key = SessionKey::from_bytes(rand::random());
        store
            .create(&key, &owned_by(&alice, Duration::from_secs(i)))
            .await
            .unwrap();
    }
    let bobs = SessionKey::from_bytes(rand::random());
    store
        .create(&bobs, &owned_by(&bob, Duration::ZERO))
        .await
        .unwrap();
    let (listed, statements) = counted(table, store.sessions(&alice)).await;
    let listed = listed.unwrap();
    assert_eq!(listed.len(), 20);
    assert!(listed.is_sorted_by_key(|info| std::cmp::Reverse(info.last_seen)));
    assert_eq!(statements.len(), 1, "{statements:#?}");
    let (_, statements) = counted(table, async {
        for key in store.keys_of(&alice).await.unwrap() {
            store.load(&key).await.unwrap();
        }
    })
    .await;
    assert_eq!(statements.len(), 21, "the listing it replaces");
}
