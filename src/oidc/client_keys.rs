//! The keys Passerelle fetched from clients' `jwks_uri`, the algorithms clients may sign with
//! (assertions, request objects, DPoP proofs), and the sealing of the secrets of clients that
//! use them as MAC keys (`client_secret_jwt`). It holds no application state, so that
//! `AppState` can own the cache without an import circle.

use openidconnect::core::CoreJsonWebKeySet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Signature algorithms accepted from clients (never `none`, never a MAC).
pub const ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];
/// MAC algorithms keyed by the client secret (OIDC Core §10.1), accepted only from a client
/// provisioned with `client_secret_jwt`, and never for DPoP proofs.
pub const MAC_ALGORITHMS: [&str; 3] = ["HS256", "HS384", "HS512"];

fn sealing_purpose(client_id: &str) -> Vec<u8> {
    format!("client-secret\u{0}{client_id}").into_bytes()
}

/// A client secret sealed (AES-256-GCM) under the server key, bound to its client id so that a
/// sealed value copied to another client does not open; base64url.
pub fn seal_client_secret(server_key: &[u8], client_id: &str, secret: &str) -> String {
    crate::crypto::b64url(&crate::crypto::seal_with_secret(
        server_key,
        &sealing_purpose(client_id),
        secret.as_bytes(),
    ))
}

/// The client secret [`seal_client_secret`] sealed; `None` for another key, client or bytes.
pub fn open_client_secret(server_key: &[u8], client_id: &str, sealed: &str) -> Option<Vec<u8>> {
    crate::crypto::open_with_secret(
        server_key,
        &sealing_purpose(client_id),
        &crate::crypto::b64url_decode(sealed)?,
    )
}

/// Whether `signature` is the MAC `alg` (one of [`MAC_ALGORITHMS`]) of `signed` under `secret`,
/// compared in constant time.
pub fn mac_verifies(alg: &str, secret: &[u8], signed: &[u8], signature: &[u8]) -> bool {
    use aws_lc_rs::hmac;
    let algorithm = match alg {
        "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        _ => return false,
    };
    hmac::verify(&hmac::Key::new(algorithm, secret), signed, signature).is_ok()
}

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
