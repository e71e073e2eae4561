//! The TOTP second factor (RFC 6238 through totp-rs: SHA-1, 6 digits, 30-second steps, one
//! step of tolerance) and its ten single-use recovery codes.

use crate::crypto::{random_bytes, sha256};
use crate::store::{Account, FactorStore, StoreResult};
use totp_rs::{Builder, Totp};

/// The issuer name shown in authenticator applications.
pub const ISSUER_LABEL: &str = "Passerelle";
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

pub fn new_secret() -> Vec<u8> {
    random_bytes(20)
}

pub fn totp(secret: &[u8], account: &Account) -> anyhow::Result<Totp> {
    Builder::new()
        .with_secret(secret.to_vec())
        .with_account_name(account.profile.email.as_str())
        .with_issuer(Some(ISSUER_LABEL))
        .build()
        .map_err(|e| anyhow::anyhow!("TOTP parameters refused: {e:?}"))
}

/// Ten codes of 12 characters (60 random bits each), shown once, stored as digests.
pub fn recovery_codes() -> (Vec<String>, Vec<[u8; 32]>) {
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw: String = random_bytes(12)
                .into_iter()
                .map(|b| RECOVERY_ALPHABET[b as usize % RECOVERY_ALPHABET.len()] as char)
                .collect();
            format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12])
        })
        .collect();
    let digests = codes
        .iter()
        .map(|c| sha256(normalise_recovery(c).as_bytes()))
        .collect();
    (codes, digests)
}

fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

/// What a code was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
}

/// Checks a TOTP code (accepted once per time step) or a recovery code (accepted once).
pub async fn verify(
    factors: &dyn FactorStore,
    account: &Account,
    code: &str,
    now: i64,
) -> StoreResult<Option<SecondFactor>> {
    let Some(factor) = factors.get_totp(&account.id).await? else {
        return Ok(None);
    };
    if factor.confirmed_at.is_none() {
        return Ok(None);
    }
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() == 6 && digits.chars().all(|c| c.is_ascii_digit()) {
        let Ok(totp) = totp(&factor.secret, account) else {
            return Ok(None);
        };
        let Some(step) = totp.check(&digits, now as u64) else {
            return Ok(None);
        };
        return Ok(factors
            .use_totp_step(&account.id, step as i64)
            .await?
            .then_some(SecondFactor::Totp));
    }
    let normalised = normalise_recovery(code);
    if normalised.len() != 12 {
        return Ok(None);
    }
    Ok(factors
        .use_recovery_code(&account.id, &sha256(normalised.as_bytes()), now)
        .await?
        .then_some(SecondFactor::RecoveryCode))
}

/// Whether the account has a confirmed TOTP factor.
pub async fn enrolled(factors: &dyn FactorStore, account: &Account) -> StoreResult<bool> {
    Ok(factors
        .get_totp(&account.id)
        .await?
        .is_some_and(|f| f.confirmed_at.is_some()))
}
