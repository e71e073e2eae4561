//! The queue of outgoing back-channel deliveries: the HTTP client they share and the tasks
//! under way, so that a graceful shutdown (or a command-line tool) waits for them. What is
//! delivered, and when, is `oidc::backchannel`'s; this holds no application state, so that
//! `AppState` can own it without a circle.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

pub struct Deliveries {
    http: reqwest::Client,
    pending: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Deliveries {
    pub fn new() -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Passerelle/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            pending: Arc::new(Mutex::new(Vec::new())),
        })
    }

    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// Runs a delivery in the background, remembered until it finishes.
    pub fn spawn(&self, delivery: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(delivery);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.retain(|h| !h.is_finished());
        pending.push(handle);
    }

    /// Waits for deliveries under way (graceful shutdown, command-line tools).
    pub async fn drain(&self) {
        let handles: Vec<_> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for handle in handles {
            let _ = handle.await;
        }
    }
}
