//! Small cryptographic helpers over aws-lc-rs: random tokens, digests, HMAC and constant-time
//! comparison. Everything that stores a secret stores its SHA-256 digest, never the secret.

use aws_lc_rs::{aead, digest, hkdf, hmac, rand};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// `n` random bytes from the operating system's generator.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes).expect("the system random generator failed");
    bytes
}

/// A random token of `n` bytes, base64url without padding.
pub fn random_token_of(n: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(n))
}

/// A 256-bit random token: authorization codes, access and refresh tokens, session secrets.
pub fn random_token() -> String {
    random_token_of(32)
}

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

pub fn is_base64url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Lower-case hexadecimal, as operators read hashes and key identifiers.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The digest under which a bearer secret is stored: a lookup by digest reveals nothing through
/// timing, because an attacker cannot choose the digest's prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> Self {
        Self(sha256(token.as_bytes()))
    }

    pub fn to_b64(&self) -> String {
        b64url(&self.0)
    }

    pub fn from_b64(text: &str) -> Option<Self> {
        let bytes = b64url_decode(text)?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_b64()[..8])
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// HMAC-SHA256 keyed by a server secret: CSRF tokens and other values that must be verifiable
/// by any replica without shared state.
pub fn hmac_sign(key: &[u8], message: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, message).as_ref().to_vec()
}

pub fn hmac_verify(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::verify(&key, message, tag).is_ok()
}

/// The AES-256-GCM key derived (HKDF-SHA256) from a secret — a bearer secret the store never
/// keeps, or a server key — and the purpose it seals for.
fn key_of_secret(secret: &[u8], purpose: &[u8]) -> aead::LessSafeKey {
    struct Aes256;
    impl hkdf::KeyType for Aes256 {
        fn len(&self) -> usize {
            32
        }
    }
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"passerelle");
    let info = [purpose];
    let prk = salt.extract(secret);
    let okm = prk
        .expand(&info, Aes256)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    let mut bytes = [0u8; 32];
    okm.fill(&mut bytes).expect("32 bytes");
    aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, &bytes).expect("an AES-256 key is 32 bytes"),
    )
}

/// Seals `plaintext` under a key derived from `secret` (nonce first, then the ciphertext).
pub fn seal_with_secret(secret: &[u8], purpose: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let key = key_of_secret(secret, purpose);
    let nonce_bytes: [u8; aead::NONCE_LEN] = random_bytes(aead::NONCE_LEN)
        .try_into()
        .expect("NONCE_LEN bytes");
    let mut sealed = plaintext.to_vec();
    key.seal_in_place_append_tag(
        aead::Nonce::assume_unique_for_key(nonce_bytes),
        aead::Aad::from(purpose),
        &mut sealed,
    )
    .expect("AES-GCM seals any length we use");
    let mut out = nonce_bytes.to_vec();
    out.extend(sealed);
    out
}

/// Opens what [`seal_with_secret`] sealed; `None` for another secret or altered bytes.
pub fn open_with_secret(secret: &[u8], purpose: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < aead::NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(aead::NONCE_LEN);
    let key = key_of_secret(secret, purpose);
    let mut buffer = ciphertext.to_vec();
    let plain = key
        .open_in_place(
            aead::Nonce::try_assume_unique_for_key(nonce).ok()?,
            aead::Aad::from(purpose),
            &mut buffer,
        )
        .ok()?;
    Some(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_with_a_secret_opens_with_it_only() {
        let sealed = seal_with_secret(b"s3cret", b"test", b"tokens");
        assert_eq!(
            open_with_secret(b"s3cret", b"test", &sealed).as_deref(),
            Some(&b"tokens"[..])
        );
        assert_eq!(open_with_secret(b"other", b"test", &sealed), None);
        assert_eq!(open_with_secret(b"s3cret", b"other", &sealed), None);
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(open_with_secret(b"s3cret", b"test", &altered), None);
        assert_ne!(seal_with_secret(b"s3cret", b"test", b"tokens"), sealed);
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
    }

    #[test]
    fn hmac_round_trip() {
        let tag = hmac_sign(b"k", b"m");
        assert!(hmac_verify(b"k", b"m", &tag));
        assert!(!hmac_verify(b"k", b"other", &tag));
    }
}
