//! Argon2id hashing with the configured cost, on blocking threads behind a semaphore.

use crate::config::PasswordHashingConfig;
use argon2::password_hash::{PasswordHash, PasswordHashString, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// A password as typed: redacted in `Debug`, never logged, dropped after hashing.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    pub fn new(value: String) -> Self {
        Self(SecretString::from(value))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password with the current parameters: verifying against it
    /// costs what verifying a real account costs.
    dummy: Arc<PasswordHashString>,
}

impl PasswordHasher {
    pub fn new(config: &PasswordHashingConfig) -> anyhow::Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid Argon2id parameters: {e}"))?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let permits = if config.max_concurrent == 0 {
            cores * 2
        } else {
            config.max_concurrent
        };
        let dummy = hash_with(&params, &crate::crypto::random_token())?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            dummy: Arc::new(dummy),
        })
    }

    fn argon2(params: &Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Password) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || {
            hash_with(&params, password.expose()).map(|h| h.to_string())
        })
        .await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is none, so
    /// that the time spent does not depend on whether an account exists.
    pub async fn verify(&self, password: Password, stored: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let dummy = self.dummy.clone();
        let params = self.params.clone();
        tokio::task::spawn_blocking(move || {
            let real = stored.as_deref().and_then(|s| PasswordHash::new(s).ok());
            let (hash, is_real) = match real {
                Some(h) => (h, true),
                None => (dummy.password_hash(), false),
            };
            // The stored hash carries its own parameters; `params` only shapes new hashes.
            let ok = Self::argon2(&params)
                .verify_password(password.expose().as_bytes(), &hash)
                .is_ok();
            ok && is_real
        })
        .await
        .unwrap_or(false)
    }

    /// Whether a stored hash was made with weaker parameters than the current ones.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        match PasswordHash::new(stored).and_then(|h| Params::try_from(&h)) {
            Ok(p) => {
                p.m_cost() < self.params.m_cost()
                    || p.t_cost() < self.params.t_cost()
                    || p.p_cost() != self.params.p_cost()
            }
            Err(_) => true,
        }
    }
}

fn hash_with(params: &Params, password: &str) -> anyhow::Result<PasswordHashString> {
    let salt = SaltString::encode_b64(&crate::crypto::random_bytes(16))
        .map_err(|e| anyhow::anyhow!("salt encoding failed: {e}"))?;
    let hash = PasswordHasher::argon2(params)
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?;
    Ok(hash.serialize())
}

use argon2::PasswordHasher as _;
