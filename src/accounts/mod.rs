//! Accounts and their credentials. Password checks go through [`password::PasswordHasher`],
//! which hashes on blocking threads, bounds concurrency, and burns the same time for an unknown
//! account as for a known one.

pub mod api_token;
pub mod lifecycle;
pub mod passkey;
pub mod password;
pub mod policy;
pub mod throttle;
pub mod totp;

use crate::store::{Account, AccountStore, StoreError};
use crate::types::Email;
use password::{Password, PasswordHasher};

/// Why a login failed. Recorded for operators; the person only ever sees one generic message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    UnknownAccount,
    NoPassword,
    WrongPassword,
    Suspended,
    TemporaryPasswordExpired,
}

impl LoginFailure {
    pub fn reason_code(self) -> &'static str {
        match self {
            LoginFailure::UnknownAccount => "unknown_account",
            LoginFailure::NoPassword => "account_not_activated",
            LoginFailure::WrongPassword => "wrong_password",
            LoginFailure::Suspended => "account_suspended",
            LoginFailure::TemporaryPasswordExpired => "temporary_password_expired_or_used",
        }
    }
}

/// Checks an email and password. Exactly one Argon2id verification runs whatever the outcome,
/// so neither the answer nor its timing tells whether the account exists.
pub async fn authenticate(
    accounts: &dyn AccountStore,
    hasher: &PasswordHasher,
    email: &str,
    password: Password,
    now: i64,
) -> Result<Result<Account, LoginFailure>, StoreError> {
    let account = match Email::parse(email) {
        Ok(email) => accounts.find_account_by_email(&email).await?,
        Err(_) => None,
    };
    let stored_hash = account.as_ref().and_then(|a| a.password_hash.clone());
    let matches = hasher.verify(password, stored_hash).await;
    Ok(match account {
        None => Err(LoginFailure::UnknownAccount),
        Some(a) if a.password_hash.is_none() => Err(LoginFailure::NoPassword),
        Some(_) if !matches => Err(LoginFailure::WrongPassword),
        Some(a) if !a.is_usable() => Err(LoginFailure::Suspended),
        Some(a) if a.temporary_password_expires_at.is_some_and(|t| t <= now) => {
            Err(LoginFailure::TemporaryPasswordExpired)
        }
        Some(a) => Ok(a),
    })
}
