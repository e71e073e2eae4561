//! Personal API tokens: what a script presents to the admin API to act for a named person
//! (the seed agreements forbid robot accounts: a program acts with a person's credentials so
//! that what it does stays attributed to that person).
//!
//! A token is 256 random bits with a `psr_` prefix (so that secret scanners recognise it),
//! shown once, stored as a SHA-256 digest, valid at most `MAX_DAYS`, revocable, and revoked
//! with every other credential when the password changes or the account is closed.

use crate::crypto::{TokenHash, random_token};
use crate::state::AppState;
use crate::store::{Account, ApiToken, StoreError};

/// The longest a token may live.
pub const MAX_DAYS: u32 = 90;
const PREFIX: &str = "psr_";

#[derive(Debug, thiserror::Error)]
pub enum ApiTokenError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a token for the account; returns the secret (to show once) and its record.
pub async fn create(
    state: &AppState,
    account: &Account,
    name: &str,
    days: u32,
) -> Result<(String, ApiToken), ApiTokenError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiTokenError::Invalid(
            "Nommez le jeton (1 à 100 caractères), par exemple le script qui l'utilise.".into(),
        ));
    }
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiTokenError::Invalid(format!(
            "La durée de validité va de 1 à {MAX_DAYS} jours."
        )));
    }
    if !account.is_usable() || account.profile.admin_roles.is_empty() {
        return Err(ApiTokenError::Invalid(
            "Seul un compte actif ayant un rôle d'administration peut créer un jeton d'API.".into(),
        ));
    }
    let secret = format!("{PREFIX}{}", random_token());
    let now = state.clock.now();
    let record = ApiToken {
        id: crate::crypto::random_token_of(9),
        account: account.id.clone(),
        name: name.to_owned(),
        created_at: now,
        expires_at: now + i64::from(days) * 86_400,
        last_used_at: None,
        revoked_at: None,
    };
    state
        .stores
        .api_tokens
        .insert_api_token(TokenHash::of(&secret), &record)
        .await?;
    tracing::info!(account = %account.id, token = %record.id, "API token created");
    Ok((secret, record))
}

/// The live token a bearer value stands for, if any; records its use (at most once a minute).
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Option<ApiToken>, StoreError> {
    if !secret.starts_with(PREFIX) || secret.len() > 128 {
        return Ok(None);
    }
    let Some(token) = state
        .stores
        .api_tokens
        .find_api_token(TokenHash::of(secret))
        .await?
    else {
        return Ok(None);
    };
    let now = state.clock.now();
    if !token.is_live(now) {
        return Ok(None);
    }
    if token.last_used_at.is_none_or(|t| now - t >= 60) {
        state
            .stores
            .api_tokens
            .touch_api_token(&token.id, now)
            .await?;
    }
    Ok(Some(token))
}
