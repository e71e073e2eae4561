//! The registered services (clients), read through a short cache so that the hot token
//! endpoint does not query the durable store on every request. Provisioning applied by this
//! process takes effect at once; applied elsewhere (another replica, the command line), it
//! reaches a running server within [`CACHE_SECONDS`].

use crate::store::{Service, ServiceStore, StoreResult};
use crate::types::ClientId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

pub const CACHE_SECONDS: u64 = 5;

/// A cached lookup: the service (or its absence) and when it was read.
type CacheEntry = (Option<Arc<Service>>, Instant);

pub struct ClientRegistry {
    store: Arc<dyn ServiceStore>,
    cache: RwLock<HashMap<String, CacheEntry>>,
}

impl ClientRegistry {
    pub fn new(store: Arc<dyn ServiceStore>) -> Self {
        Self {
            store,
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub async fn get(&self, client_id: &str) -> StoreResult<Option<Arc<Service>>> {
        let fresh = Duration::from_secs(CACHE_SECONDS);
        if let Some((service, at)) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(client_id)
            && at.elapsed() < fresh
        {
            return Ok(service.clone());
        }
        let service = match ClientId::parse(client_id) {
            Ok(id) => self.store.get_service(&id).await?.map(Arc::new),
            Err(_) => None,
        };
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        // Unknown ids are cached too (briefly), but the cache must not grow without bound
        // under a flood of invented client ids.
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(client_id.to_owned(), (service.clone(), Instant::now()));
        Ok(service)
    }

    /// Drops every cached lookup (after provisioning changed services).
    pub fn forget_all(&self) {
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}
