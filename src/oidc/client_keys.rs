//! The keys Passerelle fetched from clients' `jwks_uri`, and the algorithms clients may sign
//! with (assertions, request objects, DPoP proofs). It holds no application state, so that
//! `AppState` can own the cache without an import circle.

use openidconnect::core::CoreJsonWebKeySet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Signature algorithms accepted from clients (never `none`, never a MAC).
pub const ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// The keys fetched from clients' `jwks_uri`, by URL, with when they were fetched.
#[derive(Default)]
pub struct ClientKeys {
    fetched: Mutex<HashMap<String, (i64, Arc<CoreJsonWebKeySet>)>>,
}

impl ClientKeys {
    pub fn cached(&self, uri: &str) -> Option<(i64, Arc<CoreJsonWebKeySet>)> {
        self.fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(uri)
            .cloned()
    }

    pub fn remember(&self, uri: &str, at: i64, keys: Arc<CoreJsonWebKeySet>) {
        self.fetched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(uri.to_owned(), (at, keys));
    }
}
