//! Signing keys: generation, the key ring used to sign ID tokens, the published JWKS, rotation.
//!
//! Signing uses aws-lc-rs (RSA signing there is about ten times faster than in the pure-Rust
//! `rsa` crate that openidconnect's own key type uses); openidconnect supplies the JWK type and
//! builds the ID token through its `PrivateSigningKey` trait, implemented here.

use crate::crypto::{b64url, b64url_decode, sha256};
use crate::store::{KeyStore, RetiredPublicKey, SigningAlg, StoreResult, StoredSigningKey};
use anyhow::{Context, anyhow};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use openidconnect::core::{CoreJsonCurveType, CoreJsonWebKey, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKeyId, PrivateSigningKey, SigningError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Time a retired key stays published beyond the lifetime of the last token it signed: covers
/// clock skew between replicas and the interval at which they reload keys.
pub const RETIREMENT_GRACE_SECONDS: i64 = 300;

enum Material {
    Rsa(signature::RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One private signing key, usable by openidconnect to sign ID tokens.
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    material: Material,
    /// Public key in the form aws-lc-rs verifies with.
    public: Vec<u8>,
    jwk: CoreJsonWebKey,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

impl SigningKey {
    pub fn from_stored(stored: &StoredSigningKey) -> anyhow::Result<Self> {
        let kid = Some(JsonWebKeyId::new(stored.kid.clone()));
        let (material, public, jwk) = match stored.alg {
            SigningAlg::RS256 => {
                let pair = signature::RsaKeyPair::from_pkcs8(&stored.private_pkcs8)
                    .map_err(|e| anyhow!("RSA key {}: {e}", stored.kid))?;
                let public = pair.public_key().as_ref().to_vec();
                let jwk = CoreJsonWebKey::new_rsa(
                    pair.public_key()
                        .modulus()
                        .big_endian_without_leading_zero()
                        .to_vec(),
                    pair.public_key()
                        .exponent()
                        .big_endian_without_leading_zero()
                        .to_vec(),
                    kid,
                );
                (Material::Rsa(pair), public, jwk)
            }
            SigningAlg::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &stored.private_pkcs8,
                )
                .map_err(|e| anyhow!("EC key {}: {e}", stored.kid))?;
                let point = pair.public_key().as_ref().to_vec();
                if point.len() != 65 || point[0] != 4 {
                    return Err(anyhow!(
                        "EC key {}: unexpected public point encoding",
                        stored.kid
                    ));
                }
                let jwk = CoreJsonWebKey::new_ec(
                    point[1..33].to_vec(),
                    point[33..65].to_vec(),
                    CoreJsonCurveType::P256,
                    kid,
                );
                (Material::Ec(pair), point, jwk)
            }
            SigningAlg::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(&stored.private_pkcs8)
                    .map_err(|e| anyhow!("Ed25519 key {}: {e}", stored.kid))?;
                let public = pair.public_key().as_ref().to_vec();
                let jwk = CoreJsonWebKey::new_okp(public.clone(), CoreJsonCurveType::Ed25519, kid);
                (Material::Ed(pair), public, jwk)
            }
        };
        Ok(Self {
            kid: stored.kid.clone(),
            alg: stored.alg,
            material,
            public,
            jwk,
            created_at: stored.created_at,
            retired_at: stored.retired_at,
        })
    }

    pub fn jws_alg(&self) -> CoreJwsSigningAlgorithm {
        jws_alg(self.alg)
    }

    /// The public JWK with its `alg`, as published in the JWKS.
    pub fn public_jwk(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(&self.jwk).expect("a JWK serialises");
        value["alg"] = serde_json::Value::String(self.alg.as_str().to_owned());
        value
    }

    /// Signs `payload` as a compact JWS with this key (`alg`, `kid`, and `typ` when given):
    /// logout tokens, signed review reports.
    pub fn sign_compact(
        &self,
        typ: Option<&str>,
        payload: &serde_json::Value,
    ) -> Result<String, SigningError> {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut header = serde_json::json!({ "alg": self.alg.as_str(), "kid": self.kid });
        if let Some(typ) = typ {
            header["typ"] = serde_json::Value::String(typ.to_owned());
        }
        let input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(payload.to_string())
        );
        let signature = self.sign_bytes(input.as_bytes())?;
        Ok(format!("{input}.{}", b64.encode(signature)))
    }

    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        match &self.material {
            Material::Rsa(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    message,
                    &mut sig,
                )
                .map_err(|_| SigningError::CryptoError)?;
                Ok(sig)
            }
            Material::Ec(pair) => pair
                .sign(&aws_lc_rs::rand::SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| SigningError::CryptoError),
            Material::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// What stays of this key once its private part is deleted.
    pub fn retired_public(&self) -> RetiredPublicKey {
        RetiredPublicKey {
            kid: self.kid.clone(),
            alg: self.alg,
            public_key: self.public.clone(),
            jwk: self.public_jwk().to_string(),
            created_at: self.created_at,
            retired_at: self.retired_at.unwrap_or(self.created_at),
        }
    }
}

fn verify_with(alg: SigningAlg, public: &[u8], message: &[u8], sig: &[u8]) -> bool {
    let alg: &dyn signature::VerificationAlgorithm = match alg {
        SigningAlg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        SigningAlg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
        SigningAlg::EdDSA => &signature::ED25519,
    };
    UnparsedPublicKey::new(alg, public)
        .verify(message, sig)
        .is_ok()
}

pub fn jws_alg(alg: SigningAlg) -> CoreJwsSigningAlgorithm {
    match alg {
        SigningAlg::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        SigningAlg::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        SigningAlg::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
    }
}

impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(
        &self,
        signature_alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, SigningError> {
        if *signature_alg != self.jws_alg() {
            return Err(SigningError::UnsupportedAlg(format!(
                "key {} signs {} only",
                self.kid,
                self.alg.as_str()
            )));
        }
        self.sign_bytes(message)
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.jwk.clone()
    }
}

/// Generates a fresh private key; its kid is derived from the public key.
pub fn generate(alg: SigningAlg, now: i64) -> anyhow::Result<StoredSigningKey> {
    let der = match alg {
        SigningAlg::RS256 => signature::RsaKeyPair::generate(KeySize::Rsa2048)
            .context("RSA key generation failed")?
            .as_der()
            .context("RSA key encoding failed")?
            .as_ref()
            .to_vec(),
        SigningAlg::ES256 => EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .context("EC key generation failed")?
            .to_pkcs8v1()
            .context("EC key encoding failed")?
            .as_ref()
            .to_vec(),
        SigningAlg::EdDSA => Ed25519KeyPair::generate()
            .context("Ed25519 key generation failed")?
            .to_pkcs8()
            .context("Ed25519 key encoding failed")?
            .as_ref()
            .to_vec(),
    };
    let mut stored = StoredSigningKey {
        kid: String::new(),
        alg,
        private_pkcs8: der,
        created_at: now,
        retired_at: None,
    };
    let probe = SigningKey::from_stored(&stored)?;
    stored.kid = format!(
        "{}-{}",
        alg.as_str().to_lowercase(),
        &b64url(&sha256(&probe.public))[..16]
    );
    Ok(stored)
}

/// The keys a running server signs and verifies with.
#[derive(Default)]
struct KeySet {
    active: HashMap<SigningAlg, Arc<SigningKey>>,
    published: Vec<Arc<SigningKey>>,
    /// Keys no longer published (retired past the window, or deleted but for their public
    /// part): they verify documents, never tokens.
    retired: Vec<RetiredPublicKey>,
}

pub struct KeyRing {
    keys: RwLock<KeySet>,
    /// How long after retirement a key stays published: the longest a token it signed lives.
    publish_window: i64,
}

impl KeyRing {
    pub fn new(longest_token_lifetime: u64) -> Self {
        Self {
            keys: RwLock::new(KeySet::default()),
            publish_window: longest_token_lifetime as i64 + RETIREMENT_GRACE_SECONDS,
        }
    }

    /// Generates a key for every algorithm that has no active one. Run at start-up.
    pub async fn ensure_keys(store: &dyn KeyStore, now: i64) -> anyhow::Result<usize> {
        let existing = store.list_signing_keys().await?;
        let mut created = 0;
        for alg in SigningAlg::ALL {
            if !existing
                .iter()
                .any(|k| k.alg == alg && k.retired_at.is_none())
            {
                store.insert_signing_key(&generate(alg, now)?).await?;
                created += 1;
            }
        }
        Ok(created)
    }

    /// Generates a new key per algorithm, retires the previous ones and deletes those whose
    /// tokens have all expired. Returns the new kids.
    pub async fn rotate(
        store: &dyn KeyStore,
        now: i64,
        longest_token_lifetime: u64,
    ) -> anyhow::Result<Vec<String>> {
        let mut kids = Vec::new();
        for alg in SigningAlg::ALL {
            let key = generate(alg, now)?;
            store.insert_signing_key(&key).await?;
            store
                .retire_signing_keys(alg.as_str(), &key.kid, now)
                .await?;
            kids.push(key.kid);
        }
        let horizon = now - longest_token_lifetime as i64 - RETIREMENT_GRACE_SECONDS;
        // The public part of each key deleted stays, for the documents it signed.
        for stored in store.list_signing_keys().await? {
            if stored.retired_at.is_some_and(|r| r < horizon) {
                let key = SigningKey::from_stored(&stored)?;
                store.archive_public_key(&key.retired_public()).await?;
            }
        }
        store.delete_signing_keys_retired_before(horizon).await?;
        Ok(kids)
    }

    /// Reloads from the store: the newest active key of each algorithm signs; active keys and
    /// keys retired within the publish window are published.
    pub async fn reload(&self, store: &dyn KeyStore, now: i64) -> StoreResult<()> {
        let stored = store.list_signing_keys().await?;
        let mut set = KeySet {
            retired: store.retired_public_keys().await?,
            ..KeySet::default()
        };
        for s in &stored {
            let published = s.retired_at.is_none_or(|r| r + self.publish_window > now);
            let key = match SigningKey::from_stored(s) {
                Ok(k) => Arc::new(k),
                Err(e) => {
                    tracing::error!(kid = %s.kid, error = %e, "unreadable signing key skipped");
                    continue;
                }
            };
            if !published {
                set.retired.push(key.retired_public());
                continue;
            }
            if key.retired_at.is_none() {
                let newer = set
                    .active
                    .get(&key.alg)
                    .is_none_or(|cur| (key.created_at, &key.kid) > (cur.created_at, &cur.kid));
                if newer {
                    set.active.insert(key.alg, key.clone());
                }
            }
            set.published.push(key);
        }
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = set;
        Ok(())
    }

    pub fn active(&self, alg: SigningAlg) -> Option<Arc<SigningKey>> {
        self.keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .active
            .get(&alg)
            .cloned()
    }

    pub fn jwks(&self) -> serde_json::Value {
        let set = self.keys.read().unwrap_or_else(|e| e.into_inner());
        serde_json::json!({ "keys": set.published.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
    }

    /// The keys no longer published, as a JWK set (each with its `retired_at`): what a
    /// verifier needs for documents signed years ago.
    pub fn retired_jwks(&self) -> serde_json::Value {
        let set = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<serde_json::Value> = set
            .retired
            .iter()
            .filter_map(|k| {
                let mut jwk: serde_json::Value = serde_json::from_str(&k.jwk).ok()?;
                jwk["retired_at"] = k.retired_at.into();
                Some(jwk)
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Verifies a compact JWS signed by one of our published keys and returns its payload.
    /// Expiry is not checked: `id_token_hint` may carry an expired ID token.
    pub fn verify_compact(&self, jws: &str) -> Option<serde_json::Value> {
        self.verify(jws, false)
    }

    /// Verifies a signed document (a review report, a seal, an attestation) with any key
    /// Passerelle ever signed with, retired ones included.
    pub fn verify_document(&self, jws: &str) -> Option<serde_json::Value> {
        self.verify(jws, true)
    }

    fn verify(&self, jws: &str, retired_too: bool) -> Option<serde_json::Value> {
        let mut parts = jws.split('.');
        let (header, payload, sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: serde_json::Value = serde_json::from_slice(&b64url_decode(header)?).ok()?;
        let kid = header.get("kid")?.as_str()?;
        let alg = header.get("alg")?.as_str()?;
        let (key_alg, public) = {
            let set = self.keys.read().unwrap_or_else(|e| e.into_inner());
            match set.published.iter().find(|k| k.kid == kid) {
                Some(k) => (k.alg, k.public.clone()),
                None if retired_too => set
                    .retired
                    .iter()
                    .find(|k| k.kid == kid)
                    .map(|k| (k.alg, k.public_key.clone()))?,
                None => return None,
            }
        };
        if key_alg.as_str() != alg {
            return None;
        }
        let signing_input_len = jws.len() - sig.len() - 1;
        if !verify_with(
            key_alg,
            &public,
            &jws.as_bytes()[..signing_input_len],
            &b64url_decode(sig)?,
        ) {
            return None;
        }
        serde_json::from_slice(&b64url_decode(payload)?).ok()
    }
}
