//! Secrets encrypted at rest: signing keys' private parts, TOTP secrets and server secrets.
//!
//! Each value is sealed under a data key of its own (AES-256-GCM, bound to the row it belongs
//! to), and the data key is wrapped by the key-encryption key (KEK), which the database never
//! holds ([`kek`] reads it from the configuration, a file or a systemd credential). A stored
//! value is
//!
//! `PSLSEAL1` ‖ KEK id (8 bytes) ‖ wrapped data key (60) ‖ sealed value (nonce, text, tag)
//!
//! so changing the KEK rewraps 60 bytes per value and leaves the sealed value as it is. The
//! stores the rest of the code reaches ([`Stores::sealed`]) seal on the way in and open on the
//! way out; [`seal_at_rest`] runs at start-up and in `passerelle keys rewrap`: it seals the
//! values still in clear, rewraps those under another known KEK, and refuses a store whose
//! values are sealed under a KEK it was not given.

pub mod kek;

use super::{
    FactorStore, KeyStore, RetiredPublicKey, SealedSlot, SealedValueStore, SecretStore, StoreError,
    StoreResult, StoredSigningKey, Stores, TotpFactor,
};
use crate::crypto::{
    constant_time_eq, hex, hmac_sign, open_with_secret, random_bytes, seal_with_secret,
};
use crate::types::AccountId;
use async_trait::async_trait;
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

const MAGIC: &[u8; 8] = b"PSLSEAL1";
const ID_LEN: usize = 8;
const HEADER_LEN: usize = MAGIC.len() + ID_LEN;
const DATA_KEY_LEN: usize = 32;
/// Nonce, data key, tag.
const WRAPPED_LEN: usize = 12 + DATA_KEY_LEN + 16;

/// A key-encryption key and its public identifier (an HMAC of the key: it tells which key a
/// value was sealed under without revealing anything of it).
pub struct Kek {
    id: [u8; ID_LEN],
    key: Zeroizing<[u8; 32]>,
}

impl Kek {
    pub fn new(key: [u8; 32]) -> Self {
        let key = Zeroizing::new(key);
        let tag = hmac_sign(key.as_ref(), b"passerelle key-encryption key id");
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&tag[..ID_LEN]);
        Self { id, key }
    }

    /// The identifier operators read in messages and in `passerelle keys rewrap`.
    pub fn id(&self) -> String {
        hex(&self.id)
    }
}

/// Why a stored value did not open.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed under key-encryption key {0}, which was not given")]
    UnknownKek(String),
    #[error("its sealed bytes were altered or belong to another record")]
    Altered,
}

/// The key that seals, and the others that only open.
pub struct Keyring {
    current: Kek,
    others: Vec<Kek>,
}

/// What a stored value is, by its first bytes.
#[derive(Debug, PartialEq, Eq)]
enum Stored<'a> {
    Clear,
    Sealed { kek: &'a [u8] },
}

fn classify(value: &[u8]) -> Stored<'_> {
    if value.len() >= HEADER_LEN + WRAPPED_LEN && value.starts_with(MAGIC) {
        Stored::Sealed {
            kek: &value[MAGIC.len()..HEADER_LEN],
        }
    } else {
        Stored::Clear
    }
}

impl Keyring {
    pub fn new(current: Kek, others: Vec<Kek>) -> Self {
        let others = others.into_iter().filter(|k| k.id != current.id).collect();
        Self { current, others }
    }

    pub fn current_id(&self) -> String {
        self.current.id()
    }

    pub fn other_ids(&self) -> Vec<String> {
        self.others.iter().map(Kek::id).collect()
    }

    /// The first bytes of every value sealed under the current key.
    fn prefix(&self) -> Vec<u8> {
        [&MAGIC[..], &self.current.id].concat()
    }

    fn kek(&self, id: &[u8]) -> Result<&Kek, SealError> {
        std::iter::once(&self.current)
            .chain(&self.others)
            .find(|k| constant_time_eq(&k.id, id))
            .ok_or_else(|| SealError::UnknownKek(hex(id)))
    }

    /// Seals `plain`, bound to `aad` (the record it belongs to), under a fresh data key.
    pub fn seal(&self, aad: &[u8], plain: &[u8]) -> Vec<u8> {
        let data_key = Zeroizing::new(random_bytes(DATA_KEY_LEN));
        let header = self.prefix();
        let mut out = header.clone();
        out.extend(seal_with_secret(
            self.current.key.as_ref(),
            &header,
            &data_key,
        ));
        out.extend(seal_with_secret(&data_key, aad, plain));
        out
    }

    /// Opens what [`Keyring::seal`] sealed for the same `aad`.
    pub fn open(&self, aad: &[u8], stored: &[u8]) -> Result<Vec<u8>, SealError> {
        let data_key = self.data_key(stored)?;
        open_with_secret(&data_key, aad, &stored[HEADER_LEN + WRAPPED_LEN..])
            .ok_or(SealError::Altered)
    }

    fn data_key(&self, stored: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let Stored::Sealed { kek } = classify(stored) else {
            return Err(SealError::Altered);
        };
        let kek = self.kek(kek)?;
        open_with_secret(
            kek.key.as_ref(),
            &stored[..HEADER_LEN],
            &stored[HEADER_LEN..HEADER_LEN + WRAPPED_LEN],
        )
        .map(Zeroizing::new)
        .ok_or(SealError::Altered)
    }

    /// The same value with its data key wrapped by the current key.
    fn rewrap(&self, stored: &[u8]) -> Result<Vec<u8>, SealError> {
        let data_key = self.data_key(stored)?;
        let header = self.prefix();
        let mut out = header.clone();
        out.extend(seal_with_secret(
            self.current.key.as_ref(),
            &header,
            &data_key,
        ));
        out.extend_from_slice(&stored[HEADER_LEN + WRAPPED_LEN..]);
        Ok(out)
    }
}

/// The record a value is bound to: a value copied onto another row does not open.
fn aad(slot: &SealedSlot) -> Vec<u8> {
    match slot {
        SealedSlot::SigningKey(kid) => format!("signing-key:{kid}"),
        SealedSlot::Totp(account) => format!("totp:{}", account.as_str()),
        SealedSlot::ServerSecret(name) => format!("server-secret:{name}"),
    }
    .into_bytes()
}

/// What one pass of [`seal_at_rest`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Values found in clear and sealed.
    pub sealed: u64,
    /// Values found under another known key and rewrapped under the current one.
    pub rewrapped: u64,
}

/// How many values one query brings.
const BATCH: u32 = 500;

/// Brings every value under the current key: seals those in clear (a database from before
/// encryption at rest), rewraps those under another key the ring holds. Refuses, touching
/// nothing more, a value sealed under a key the ring does not hold (a wrong key given) or
/// whose wrapped key does not open. Safe beside running replicas: each value is replaced only
/// if it has not changed since it was read.
pub async fn seal_at_rest(
    store: &dyn SealedValueStore,
    ring: &Keyring,
) -> anyhow::Result<Resealed> {
    let prefix = ring.prefix();
    let mut done = Resealed::default();
    // A replica still sealing under the previous key can keep adding values; the rounds are
    // bounded so that the pass ends, and what is left is rewrapped at the next one.
    for _ in 0..1000 {
        let batch = store.values_not_beginning_with(&prefix, BATCH).await?;
        if batch.is_empty() {
            break;
        }
        for (slot, mut value) in batch {
            let (new, count) = match classify(&value) {
                Stored::Clear => (ring.seal(&aad(&slot), &value), &mut done.sealed),
                Stored::Sealed { .. } => (
                    ring.rewrap(&value).map_err(|e| refusal(&slot, e, ring))?,
                    &mut done.rewrapped,
                ),
            };
            if store.replace_value(&slot, &value, &new).await? {
                *count += 1;
            }
            value.zeroize();
        }
    }
    if done.sealed > 0 {
        store.forget_overwritten().await?;
    }
    Ok(done)
}

/// How many values are not under the current key (at most one batch's worth).
pub async fn not_under_current(
    store: &dyn SealedValueStore,
    ring: &Keyring,
) -> anyhow::Result<usize> {
    Ok(store
        .values_not_beginning_with(&ring.prefix(), BATCH)
        .await?
        .len())
}

fn refusal(slot: &SealedSlot, e: SealError, ring: &Keyring) -> anyhow::Error {
    let what = match slot {
        SealedSlot::SigningKey(kid) => format!("signing key {kid}"),
        SealedSlot::Totp(account) => format!("the TOTP secret of account {}", account.as_str()),
        SealedSlot::ServerSecret(name) => format!("server secret {name}"),
    };
    anyhow::anyhow!(
        "wrong key-encryption key: {what} is {e} (given: {}{}); give the key the store was sealed with (secrets.kek, secrets.kek_file or the credential passerelle-kek), or add it to secrets.other_kek_files",
        ring.current_id(),
        ring.other_ids()
            .iter()
            .map(|id| format!(", {id}"))
            .collect::<String>()
    )
}

impl Stores {
    /// The same stores, sealing and opening the secrets kept at rest with `ring`.
    pub fn sealed(mut self, ring: Arc<Keyring>) -> Self {
        self.keys = Arc::new(SealedKeys {
            inner: self.keys,
            ring: ring.clone(),
        });
        self.factors = Arc::new(SealedFactors {
            inner: self.factors,
            ring: ring.clone(),
        });
        self.secrets = Arc::new(SealedSecrets {
            inner: self.secrets,
            ring,
        });
        self
    }
}

fn unreadable(what: String, e: SealError) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

struct SealedKeys {
    inner: Arc<dyn KeyStore>,
    ring: Arc<Keyring>,
}

#[async_trait]
impl KeyStore for SealedKeys {
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let mut keys = self.inner.list_signing_keys().await?;
        for key in &mut keys {
            let slot = SealedSlot::SigningKey(key.kid.clone());
            key.private_pkcs8 = self
                .ring
                .open(&aad(&slot), &key.private_pkcs8)
                .map_err(|e| unreadable(format!("signing key {}", key.kid), e))?;
        }
        Ok(keys)
    }

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        let slot = SealedSlot::SigningKey(key.kid.clone());
        let sealed = StoredSigningKey {
            private_pkcs8: self.ring.seal(&aad(&slot), &key.private_pkcs8),
            ..key.clone()
        };
        self.inner.insert_signing_key(&sealed).await
    }

    async fn retire_signing_keys(&self, alg: &str, keep: &str, at: i64) -> StoreResult<u64> {
        self.inner.retire_signing_keys(alg, keep, at).await
    }

    async fn delete_signing_keys_retired_before(&self, before: i64) -> StoreResult<u64> {
        self.inner.delete_signing_keys_retired_before(before).await
    }

    async fn archive_public_key(&self, key: &RetiredPublicKey) -> StoreResult<()> {
        self.inner.archive_public_key(key).await
    }

    async fn retired_public_keys(&self) -> StoreResult<Vec<RetiredPublicKey>> {
        self.inner.retired_public_keys().await
    }
}

struct SealedFactors {
    inner: Arc<dyn FactorStore>,
    ring: Arc<Keyring>,
}

#[async_trait]
impl FactorStore for SealedFactors {
    async fn get_totp(&self, account: &AccountId) -> StoreResult<Option<TotpFactor>> {
        let Some(mut factor) = self.inner.get_totp(account).await? else {
            return Ok(None);
        };
        factor.secret = self
            .ring
            .open(&aad(&SealedSlot::Totp(account.clone())), &factor.secret)
            .map_err(|e| unreadable(format!("TOTP of {}", account.as_str()), e))?;
        Ok(Some(factor))
    }

    async fn begin_totp(&self, account: &AccountId, secret: &[u8], now: i64) -> StoreResult<bool> {
        let sealed = self
            .ring
            .seal(&aad(&SealedSlot::Totp(account.clone())), secret);
        self.inner.begin_totp(account, &sealed, now).await
    }

    async fn confirm_totp(
        &self,
        account: &AccountId,
        step: i64,
        recovery_sha256: &[[u8; 32]],
        now: i64,
    ) -> StoreResult<()> {
        self.inner
            .confirm_totp(account, step, recovery_sha256, now)
            .await
    }

    async fn use_totp_step(&self, account: &AccountId, step: i64) -> StoreResult<bool> {
        self.inner.use_totp_step(account, step).await
    }

    async fn use_recovery_code(
        &self,
        account: &AccountId,
        sha256: &[u8; 32],
        now: i64,
    ) -> StoreResult<bool> {
        self.inner.use_recovery_code(account, sha256, now).await
    }

    async fn remaining_recovery_codes(&self, account: &AccountId) -> StoreResult<u32> {
        self.inner.remaining_recovery_codes(account).await
    }

    async fn remove_totp(&self, account: &AccountId) -> StoreResult<bool> {
        self.inner.remove_totp(account).await
    }
}

struct SealedSecrets {
    inner: Arc<dyn SecretStore>,
    ring: Arc<Keyring>,
}

#[async_trait]
impl SecretStore for SealedSecrets {
    async fn server_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        let aad = aad(&SealedSlot::ServerSecret(name.to_owned()));
        let stored = self
            .inner
            .server_secret(name, &self.ring.seal(&aad, candidate))
            .await?;
        self.ring
            .open(&aad, &stored)
            .map_err(|e| unreadable(format!("server secret {name}"), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(key: u8, others: &[u8]) -> Keyring {
        Keyring::new(
            Kek::new([key; 32]),
            others.iter().map(|k| Kek::new([*k; 32])).collect(),
        )
    }

    #[test]
    fn a_sealed_value_opens_for_its_record_and_key_only() {
        let a = ring(1, &[]);
        let sealed = a.seal(b"totp:x", b"secret bytes");
        assert!(!sealed.windows(12).any(|w| w == b"secret bytes"));
        assert_eq!(a.open(b"totp:x", &sealed).unwrap(), b"secret bytes");
        assert_eq!(a.open(b"totp:y", &sealed), Err(SealError::Altered));
        assert_ne!(a.seal(b"totp:x", b"secret bytes"), sealed);
        let b = ring(2, &[]);
        assert_eq!(
            b.open(b"totp:x", &sealed),
            Err(SealError::UnknownKek(a.current_id()))
        );
        for i in [0, HEADER_LEN + 3, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[i] ^= 1;
            assert!(a.open(b"totp:x", &altered).is_err(), "byte {i}");
        }
        assert_eq!(a.open(b"totp:x", b"clear"), Err(SealError::Altered));
    }

    #[test]
    fn rewrapping_changes_the_key_and_keeps_the_value() {
        let old = ring(1, &[]);
        let sealed = old.seal(b"k", b"private key");
        let new = ring(2, &[1]);
        assert_eq!(new.open(b"k", &sealed).unwrap(), b"private key");
        let rewrapped = new.rewrap(&sealed).unwrap();
        assert_eq!(
            rewrapped[HEADER_LEN + WRAPPED_LEN..],
            sealed[HEADER_LEN + WRAPPED_LEN..]
        );
        assert_eq!(ring(2, &[]).open(b"k", &rewrapped).unwrap(), b"private key");
        assert!(old.open(b"k", &rewrapped).is_err());
    }

    #[test]
    fn key_ids_tell_keys_apart_without_revealing_them() {
        assert_ne!(Kek::new([1; 32]).id(), Kek::new([2; 32]).id());
        assert_eq!(Kek::new([1; 32]).id(), Kek::new([1; 32]).id());
        assert_eq!(Kek::new([1; 32]).id().len(), 16);
        assert_eq!(ring(1, &[1, 2]).other_ids(), vec![Kek::new([2; 32]).id()]);
    }
}
