//! Random sequences of insert, remove, clear, cycle, destroy, read and replay
//! by several clients, through the real middleware and the `MemoryStore`,
//! checked against a model after every step.

use crate::common;

use std::collections::{BTreeMap, HashSet};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use common::{secret, send};
use proptest::prelude::*;
use sessionware::{MemoryStore, Session, SessionLayer};

const CLIENTS: usize = 3;
const KEYS: u8 = 3;

#[derive(Debug, Clone)]
enum Op {
    Insert(usize, u8, u32),
    Remove(usize, u8),
    Clear(usize),
    Cycle(usize),
    Destroy(usize),
    Read(usize),
    ReplayDead(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0..CLIENTS;
    prop_oneof![
        4 => (client.clone(), 0..KEYS, any::<u32>()).prop_map(|(c, k, v)| Op::Insert(c, k, v)),
        2 => (client.clone(), 0..KEYS).prop_map(|(c, k)| Op::Remove(c, k)),
        1 => client.clone().prop_map(Op::Clear),
        2 => client.clone().prop_map(Op::Cycle),
        1 => client.clone().prop_map(Op::Destroy),
        2 => client.clone().prop_map(Op::Read),
        1 => any::<usize>().prop_map(Op::ReplayDead),
    ]
}

fn app(store: MemoryStore) -> Router {
    Router::new()
        .route(
            "/insert/{k}/{v}",
            get(|s: Session, Path((k, v)): Path<(String, u32)>| async move { s.insert(&k, v).unwrap() }),
        )
        .route("/remove/{k}", get(|s: Session, Path(k): Path<String>| async move { s.remove(&k).to_string() }))
        .route("/clear", get(|s: Session| async move { s.clear() }))
        .route("/cycle", get(|s: Session| async move { s.cycle_id() }))
        .route("/destroy", get(|s: Session| async move { s.destroy() }))
        .route(
            "/dump",
            get(|s: Session| async move {
                let data: BTreeMap<String, u32> = (0..KEYS)
                    .filter_map(|k| s.get::<u32>(&format!("k{k}")).unwrap().map(|v| (format!("k{k}"), v)))
                    .collect();
                serde_json::to_string(&data).unwrap()
            }),
        )
        .layer(SessionLayer::new(store, secret()))
}

#[derive(Default, Clone)]
struct Client {
    cookie: Option<String>,
    data: BTreeMap<String, u32>,
}

async fn run(ops: Vec<Op>) {
    let store = MemoryStore::new();
    let app = app(store.clone());
    let mut clients = vec![Client::default(); CLIENTS];
    let mut dead: Vec<String> = Vec::new();
    let mut issued = HashSet::new();

    for op in ops {
        let (who, path) = match &op {
            Op::Insert(c, k, v) => (*c, format!("/insert/k{k}/{v}")),
            Op::Remove(c, k) => (*c, format!("/remove/k{k}")),
            Op::Clear(c) => (*c, "/clear".into()),
            Op::Cycle(c) => (*c, "/cycle".into()),
            Op::Destroy(c) => (*c, "/destroy".into()),
            Op::Read(c) => (*c, "/dump".into()),
            Op::ReplayDead(i) => {
                if let Some(cookie) = (!dead.is_empty()).then(|| &dead[i % dead.len()]) {
                    let reply = send(&app, "/dump", Some(cookie)).await;
                    assert_eq!(reply.body, "{}", "a dead token loaded data");
                    assert_eq!(reply.set_cookie(), None);
                }
                continue;
            }
        };
        let client = &mut clients[who];
        let reply = send(&app, &path, client.cookie.as_deref()).await;
        assert_eq!(reply.status, http::StatusCode::OK);

        // The model.
        match &op {
            Op::Insert(_, k, v) => {
                client.data.insert(format!("k{k}"), *v);
            }
            Op::Remove(_, k) => {
                client.data.remove(&format!("k{k}"));
            }
            Op::Clear(_) | Op::Destroy(_) => client.data.clear(),
            Op::Read(_) => {
                assert_eq!(
                    reply.body,
                    serde_json::to_string(&client.data).unwrap(),
                    "{op:?}"
                );
            }
            Op::Cycle(_) | Op::ReplayDead(_) => {}
        }

        // The jar, as a browser would keep it.
        if let Some(header) = reply.set_cookie() {
            let pair = header.split(';').next().unwrap().to_owned();
            let removal = header.contains("Max-Age=0");
            let old = client.cookie.take();
            if removal {
                dead.extend(old);
            } else {
                if old.as_deref() != Some(pair.as_str()) {
                    assert!(
                        issued.insert(pair.clone()),
                        "a token was issued twice: {op:?}"
                    );
                    dead.extend(old);
                }
                client.cookie = Some(pair);
            }
        }
        if client.data.is_empty() {
            assert!(
                client.cookie.is_none(),
                "an empty session keeps its cookie after {op:?}"
            );
        } else {
            assert!(
                client.cookie.is_some(),
                "a session with data has no cookie after {op:?}"
            );
        }
        let live = clients.iter().filter(|c| c.cookie.is_some()).count();
        assert_eq!(store.len(), live, "records ≠ live sessions after {op:?}");
    }

    for client in &clients {
        let reply = send(&app, "/dump", client.cookie.as_deref()).await;
        assert_eq!(reply.body, serde_json::to_string(&client.data).unwrap());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_middleware_matches_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run(ops));
    }
}
