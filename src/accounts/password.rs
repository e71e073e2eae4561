//! Argon2id hashing with the configured cost, on blocking threads behind a semaphore.
//!
//! Argon2's working memory (`memory_kib` per hash) comes from a pool of buffers, at most one per
//! permit, wiped after each use. Allocating it per hash let every blocking thread's malloc
//! arena keep several freed buffers: the benchmark measured a Passerelle idle after logins
//! holding 900 MiB; with the pool it holds the permits' buffers while logins come, and gives
//! them back to the system once they have been idle a while (`release_idle_memory`): an idle
//! Passerelle does not keep 19 MiB per permit for the next login.

use crate::config::PasswordHashingConfig;
use argon2::password_hash::{Output, ParamsString, PasswordHash, PasswordHashString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
    memory: Arc<MemoryPool>,
}

/// Argon2 working buffers, reused: a hash takes one (its permit guarantees there are never
/// more buffers than permits) and gives it back wiped, with the moment it did.
#[derive(Default)]
struct MemoryPool(Mutex<Vec<(Vec<Block>, Instant)>>);

impl MemoryPool {
    fn with<R>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
        // The buffer used last: the others are the first to go idle.
        let taken = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut buffer = taken.map(|(b, _)| b).unwrap_or_default();
        if buffer.len() < blocks {
            buffer.resize(blocks, Block::default());
        }
        let result = f(&mut buffer[..blocks]);
        // Every block derives from the password: none outlives the hash.
        buffer.fill(Block::default());
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((buffer, Instant::now()));
        result
    }

    /// Frees the buffers given back more than `idle` ago; answers how many bytes went.
    fn release_idle(&self, idle: Duration) -> usize {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let before: usize = pool
            .iter()
            .map(|(b, _)| std::mem::size_of_val(&b[..]))
            .sum();
        pool.retain(|(_, returned)| returned.elapsed() < idle);
        pool.shrink_to_fit();
        before
            - pool
                .iter()
                .map(|(b, _)| std::mem::size_of_val(&b[..]))
                .sum::<usize>()
    }
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
        let memory = Arc::new(MemoryPool::default());
        let dummy = hash_with(&memory, &params, &crate::crypto::random_token())?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(permits)),
            dummy: Arc::new(dummy),
            memory,
        })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: Password) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let (params, memory) = (self.params.clone(), self.memory.clone());
        tokio::task::spawn_blocking(move || {
            hash_with(&memory, &params, password.expose()).map(|h| h.to_string())
        })
        .await?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is none, so
    /// that the time spent does not depend on whether an account exists.
    pub async fn verify(&self, password: Password, stored: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let (dummy, memory) = (self.dummy.clone(), self.memory.clone());
        tokio::task::spawn_blocking(move || {
            let real = stored.as_deref().and_then(|s| PasswordHash::new(s).ok());
            let (hash, is_real) = match real {
                Some(h) => (h, true),
                None => (dummy.password_hash(), false),
            };
            verify_with(&memory, password.expose(), &hash) && is_real
        })
        .await
        .unwrap_or(false)
    }

    /// Gives back to the system the working memory of hashes that has not been used for
    /// `idle` (all of it for `Duration::ZERO`); answers how many bytes went.
    pub fn release_idle_memory(&self, idle: Duration) -> usize {
        self.memory.release_idle(idle)
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

/// Argon2 of `password` and `salt` (raw bytes) with `params`, in a pooled buffer.
fn compute(
    memory: &MemoryPool,
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &str,
    salt: &[u8],
) -> argon2::password_hash::Result<Output> {
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    memory.with(params.block_count(), |blocks| {
        Output::init_with(length, |out| {
            Ok(argon2.hash_password_into_with_memory(password.as_bytes(), salt, out, blocks)?)
        })
    })
}

/// A new PHC string for `password` (Argon2id, version 0x13, a random 16-byte salt).
fn hash_with(
    memory: &MemoryPool,
    params: &Params,
    password: &str,
) -> anyhow::Result<PasswordHashString> {
    let raw_salt = crate::crypto::random_bytes(16);
    let salt = SaltString::encode_b64(&raw_salt)
        .map_err(|e| anyhow::anyhow!("salt encoding failed: {e}"))?;
    let failed = |e| anyhow::anyhow!("password hashing failed: {e}");
    let output = compute(
        memory,
        Algorithm::Argon2id,
        Version::V0x13,
        params,
        password,
        &raw_salt,
    )
    .map_err(failed)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.serialize())
}

/// Whether `password` matches a PHC hash, with the hash's own algorithm and parameters
/// (`Output` compares in constant time).
fn verify_with(memory: &MemoryPool, password: &str, hash: &PasswordHash<'_>) -> bool {
    let check = || -> argon2::password_hash::Result<bool> {
        let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
            return Ok(false);
        };
        let algorithm = Algorithm::try_from(hash.algorithm)?;
        let version = hash.version.map(Version::try_from).transpose()?;
        let params = Params::try_from(hash)?;
        let mut salt_buffer = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_buffer)?;
        let computed = compute(
            memory,
            algorithm,
            version.unwrap_or_default(),
            &params,
            password,
            salt,
        )?;
        Ok(&computed == expected)
    };
    check().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHasher as _, PasswordVerifier as _};

    fn small() -> Params {
        Params::new(1024, 1, 1, None).unwrap()
    }

    #[test]
    fn pooled_hashes_agree_with_the_argon2_crate_both_ways() {
        let pool = MemoryPool::default();
        let ours = hash_with(&pool, &small(), "Un-Mot-De-Passe-2026").unwrap();
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, small());
        assert!(
            argon
                .verify_password(b"Un-Mot-De-Passe-2026", &ours.password_hash())
                .is_ok()
        );
        let salt = SaltString::encode_b64(b"sel-de-seize-oct").unwrap();
        let theirs = argon.hash_password(b"Un-Mot-De-Passe-2026", &salt).unwrap();
        assert!(verify_with(&pool, "Un-Mot-De-Passe-2026", &theirs));
        assert!(!verify_with(&pool, "Un-Mot-De-Passe-2027", &theirs));
        assert!(!verify_with(
            &pool,
            "Un-Mot-De-Passe-2027",
            &ours.password_hash()
        ));
        // A stored hash of other parameters is checked with its own.
        let stronger = Params::new(2048, 2, 1, None).unwrap();
        let old = hash_with(&pool, &stronger, "Autre-Mot-De-Passe").unwrap();
        assert!(old.as_str().contains("m=2048,t=2,p=1"));
        assert!(verify_with(
            &pool,
            "Autre-Mot-De-Passe",
            &old.password_hash()
        ));
    }

    #[test]
    fn buffers_are_reused_and_wiped() {
        let pool = MemoryPool::default();
        pool.with(8, |b| b[3].as_mut()[0] = 7);
        pool.with(8, |b| {
            assert_eq!(b[3].as_ref()[0], 0, "wiped after the first use");
            b.iter_mut().for_each(|block| block.as_mut().fill(u64::MAX));
        });
        let buffers = pool.0.lock().unwrap();
        assert_eq!(buffers.len(), 1, "one buffer, reused");
        assert!(
            buffers[0]
                .0
                .iter()
                .all(|b| b.as_ref().iter().all(|w| *w == 0))
        );
    }

    #[test]
    fn idle_buffers_are_given_back_and_the_next_hash_takes_a_new_one() {
        let pool = MemoryPool::default();
        pool.with(8, |_| ());
        // Used just now: an hour's idleness has not passed.
        assert_eq!(pool.release_idle(Duration::from_secs(3600)), 0);
        assert_eq!(pool.0.lock().unwrap().len(), 1);
        assert_eq!(pool.release_idle(Duration::ZERO), 8 * 1024);
        assert!(pool.0.lock().unwrap().is_empty());
        let ours = hash_with(&pool, &small(), "Un-Mot-De-Passe-2026").unwrap();
        assert!(verify_with(
            &pool,
            "Un-Mot-De-Passe-2026",
            &ours.password_hash()
        ));
    }
}
