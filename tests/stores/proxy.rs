//! A TCP proxy in front of a real service that a test can cut and restore,
//! to break live connections without stopping the service for other tests.
#![allow(unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A running proxy; dropping it stops accepting.
#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
    counter: AtomicU64,
}

impl Proxy {
    /// Forwards `127.0.0.1:<ephemeral>` to `target`.
    pub async fn start(target: SocketAddr) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (generation, _) = watch::channel(0);
        let proxy = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            up: Arc::new(AtomicBool::new(true)),
            generation,
            counter: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&proxy);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Some(proxy) = weak.upgrade() else { break };
                if !proxy.up.load(Ordering::SeqCst) {
                    drop(client); // refused: closed at once
                    continue;
                }
                let mut cut = proxy.generation.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        proxy
    }

    /// Closes every live connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        let next = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        self.generation.send_replace(next);
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
