//! The life of a credential: account creation with a single-use activation link, choosing a
//! password under the applicable policy, and what follows every password change (all sessions
//! and tokens revoked, a notification mail). Caf-side actions live here too.

use super::password::Password;
use super::policy::{Failure, PersonalContext, Policy};
use crate::crypto::{TokenHash, random_token};
use crate::mail::templates::{self, Recipient};
use crate::state::AppState;
use crate::store::{
    Account, AccountProfile, AccountStatus, CredentialLink, LinkPurpose, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// The request cannot be carried out as asked; the message says why.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The change was stored but the mail could not be sent.
    #[error("mail not sent: {0:#}")]
    Mail(anyhow::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Creates a pending account and mails its activation link.
pub async fn create_account(
    state: &AppState,
    profile: AccountProfile,
) -> Result<Account, LifecycleError> {
    if state
        .stores
        .accounts
        .find_account_by_email(&profile.email)
        .await?
        .is_some()
    {
        return Err(LifecycleError::Invalid(format!(
            "an account already exists for {}",
            profile.email
        )));
    }
    if profile.partner.is_some() == profile.caf.is_some() {
        return Err(LifecycleError::Invalid(
            "an account belongs to exactly one partner or one Caf".into(),
        ));
    }
    if let Some(p) = &profile.partner
        && state.stores.organisations.get_partner(p).await?.is_none()
    {
        return Err(LifecycleError::Invalid(format!(
            "partner `{p}` does not exist"
        )));
    }
    if let Some(c) = &profile.caf
        && state.stores.organisations.get_caf(c).await?.is_none()
    {
        return Err(LifecycleError::Invalid(format!("Caf `{c}` does not exist")));
    }
    for service in &profile.services {
        if state.stores.services.get_service(service).await?.is_none() {
            return Err(LifecycleError::Invalid(format!(
                "service `{service}` does not exist"
            )));
        }
    }
    let (id, _) = state.stores.accounts.upsert_account(&profile).await?;
    let account = state
        .stores
        .accounts
        .get_account(&id)
        .await?
        .ok_or_else(|| {
            LifecycleError::Invalid("the account vanished while being created".into())
        })?;
    send_activation(state, &account).await?;
    tracing::info!(account = %account.id, "account created, activation link sent");
    Ok(account)
}

/// Mails the first credential: a new activation link (earlier links stop working), or for an
/// account created for a legacy service, a new temporary password.
pub async fn send_activation(state: &AppState, account: &Account) -> Result<(), LifecycleError> {
    if account.password_hash.is_some() && account.temporary_password_expires_at.is_none() {
        return Err(LifecycleError::Invalid(format!(
            "{} has already chosen a password: send a reset link instead",
            account.profile.email
        )));
    }
    if uses_temporary_password(state, account).await? {
        return send_temporary_password(state, account).await;
    }
    let ttl = state.settings.activation_link_ttl;
    let token = new_link(state, account, LinkPurpose::Activation, ttl).await?;
    let link = format!("{}/activation?jeton={token}", state.settings.issuer);
    let (services, caf) = context_names(state, account).await?;
    let mail = templates::activation(
        &recipient(account, caf.as_deref(), &services),
        &link,
        ttl / 3600,
    );
    state.mailer.send(mail).await.map_err(LifecycleError::Mail)
}

async fn uses_temporary_password(state: &AppState, account: &Account) -> Result<bool, StoreError> {
    for id in &account.profile.services {
        if let Some(s) = state.stores.services.get_service(id).await?
            && s.onboarding == crate::store::Onboarding::TemporaryPassword
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Legacy onboarding: a random temporary password, single use, mailed in clear (the only
/// password Passerelle ever mails), that must be replaced before any code is issued.
async fn send_temporary_password(
    state: &AppState,
    account: &Account,
) -> Result<(), LifecycleError> {
    let alphabet: Vec<char> = crate::config::TEMPORARY_PASSWORD_ALPHABET.chars().collect();
    let password: String =
        crate::crypto::random_bytes(state.settings.temporary_password_length * 2)
            .into_iter()
            // Rejection sampling keeps every character equally likely.
            .filter(|b| (*b as usize) < 256 - 256 % alphabet.len())
            .map(|b| alphabet[b as usize % alphabet.len()])
            .take(state.settings.temporary_password_length)
            .collect();
    if password.chars().count() < state.settings.temporary_password_length {
        return Err(LifecycleError::Unexpected(anyhow::anyhow!(
            "not enough random bytes; try again"
        )));
    }
    let ttl = state.settings.temporary_password_ttl;
    let hash = state.hasher.hash(Password::new(password.clone())).await?;
    state
        .stores
        .accounts
        .set_temporary_password(&account.id, &hash, state.clock.now() + ttl as i64)
        .await?;
    let (services, caf) = context_names(state, account).await?;
    let login = format!("{}/login", state.settings.issuer);
    let mail = templates::temporary_password(
        &recipient(account, caf.as_deref(), &services),
        &password,
        &login,
        ttl / 3600,
    );
    state.mailer.send(mail).await.map_err(LifecycleError::Mail)
}

/// Mails a password reset link if the account exists and is not suspended; earlier reset links
/// stop working and the current password keeps working until the link is used. Says nothing
/// either way: the caller answers the same whatever happened.
pub async fn send_reset(state: &AppState, email: &str) -> Result<Option<Account>, LifecycleError> {
    let Ok(email) = crate::types::Email::parse(email) else {
        return Ok(None);
    };
    let Some(account) = state.stores.accounts.find_account_by_email(&email).await? else {
        return Ok(None);
    };
    if account.status == AccountStatus::Suspended {
        // No link: a new password would not open a suspended account. The caller tells the
        // person why (the page stays the neutral one).
        tracing::info!(account = %account.id, "reset requested for a suspended account: no link sent");
        return Ok(Some(account));
    }
    let ttl = state.settings.reset_link_ttl;
    let token = new_link(state, &account, LinkPurpose::Reset, ttl).await?;
    let link = format!("{}/reinitialisation?jeton={token}", state.settings.issuer);
    let (services, caf) = context_names(state, &account).await?;
    let mail = templates::reset(
        &recipient(&account, caf.as_deref(), &services),
        &link,
        ttl / 60,
    );
    state
        .mailer
        .send(mail)
        .await
        .map_err(LifecycleError::Mail)?;
    Ok(None)
}

/// After the lock threshold: mails the account (if it exists) a link that lifts the lock.
pub async fn send_unlock(
    state: &AppState,
    identifier: &str,
    locked_until: i64,
) -> Result<(), LifecycleError> {
    let Ok(email) = crate::types::Email::parse(identifier) else {
        return Ok(());
    };
    let Some(account) = state.stores.accounts.find_account_by_email(&email).await? else {
        return Ok(());
    };
    let ttl = (locked_until - state.clock.now()).max(60) as u64;
    let token = new_link(state, &account, LinkPurpose::Unlock, ttl).await?;
    let link = format!("{}/deverrouillage?jeton={token}", state.settings.issuer);
    let until = format!(
        "{} ({})",
        crate::clock::paris(locked_until),
        crate::clock::ZONE
    );
    let (services, caf) = context_names(state, &account).await?;
    let mail = templates::locked(
        &recipient(&account, caf.as_deref(), &services),
        &link,
        &until,
    );
    state.mailer.send(mail).await.map_err(LifecycleError::Mail)
}

/// Stores a new single-use link and returns its token (only its digest is kept).
pub async fn new_link(
    state: &AppState,
    account: &Account,
    purpose: LinkPurpose,
    ttl: u64,
) -> Result<String, StoreError> {
    let token = random_token();
    let now = state.clock.now();
    let link = CredentialLink {
        account: account.id.clone(),
        purpose,
        created_at: now,
        expires_at: now + ttl as i64,
        used_at: None,
        revoked_at: None,
    };
    state
        .stores
        .links
        .insert_link(TokenHash::of(&token), &link)
        .await?;
    Ok(token)
}

fn recipient<'a>(
    account: &'a Account,
    caf: Option<&'a str>,
    services: &'a [String],
) -> Recipient<'a> {
    Recipient {
        address: account.profile.email.as_str(),
        name: &account.profile.given_name,
        caf,
        services,
    }
}

/// The names of the account's services and of its Caf, for messages.
async fn context_names(
    state: &AppState,
    account: &Account,
) -> Result<(Vec<String>, Option<String>), StoreError> {
    let mut services = Vec::new();
    for id in &account.profile.services {
        if let Some(s) = state.stores.services.get_service(id).await? {
            services.push(s.name);
        }
    }
    let caf_code = match &account.profile.partner {
        Some(p) => state
            .stores
            .organisations
            .get_partner(p)
            .await?
            .map(|p| p.caf),
        None => account.profile.caf.clone(),
    };
    let caf = match caf_code {
        Some(code) => state
            .stores
            .organisations
            .get_caf(&code)
            .await?
            .map(|c| c.name),
        None => None,
    };
    Ok((services, caf))
}

/// The strictest profile of the account's services (those it was created for and those it
/// holds an open habilitation for) and, for holders of an administrative role, of the
/// administrator profile; the default profile when none applies.
pub async fn applicable_policy(state: &AppState, account: &Account) -> Result<Policy, StoreError> {
    let mut names = Vec::new();
    if !account.profile.admin_roles.is_empty() {
        names.push(state.settings.administrator_password_policy.clone());
    }
    // The services the account was created for, and those it holds a habilitation for.
    let mut services = account.profile.services.clone();
    services.extend(
        state
            .stores
            .habilitations
            .habilitations_of_account(&account.id)
            .await?
            .into_iter()
            .filter(|h| h.status != crate::store::HabilitationStatus::Closed)
            .map(|h| h.client_id),
    );
    services.sort();
    services.dedup();
    for id in &services {
        if let Some(s) = state.stores.services.get_service(id).await? {
            names.extend(s.password_policy);
        }
    }
    Ok(state.policies.strictest(names.iter().map(String::as_str)))
}

/// Every rule a new password breaks, history included (each previous hash is verified, so
/// this costs one Argon2id verification per remembered password).
pub async fn check_new_password(
    state: &AppState,
    account: &Account,
    password: &Password,
) -> Result<Vec<Failure>, StoreError> {
    let policy = applicable_policy(state, account).await?;
    let p = &account.profile;
    let names = [p.given_name.as_str(), p.family_name.as_str()];
    let person = PersonalContext {
        email_local_part: p.email.local_part(),
        names: &names,
    };
    let mut failures = policy.check(password.expose(), &person);
    if !failures.iter().any(|f| matches!(f, Failure::TooLong(_))) {
        let keep = state.settings.password_history;
        let mut previous = state
            .stores
            .accounts
            .password_history(&account.id, keep.saturating_sub(1))
            .await?;
        previous.extend(account.password_hash.clone());
        for hash in previous {
            if state.hasher.verify(password.clone(), Some(hash)).await {
                failures.push(Failure::Reused(keep));
                break;
            }
        }
    }
    Ok(failures)
}

/// Stores a new password (already checked), then revokes every session and token of the
/// person and notifies them.
pub async fn set_password(
    state: &AppState,
    account: &Account,
    password: Password,
) -> Result<(), LifecycleError> {
    let hash = state.hasher.hash(password).await?;
    state
        .stores
        .accounts
        .set_password_hash(&account.id, &hash)
        .await?;
    revoke_everything(state, account).await?;
    let (services, caf) = context_names(state, account).await?;
    let when = format!(
        "{} ({})",
        crate::clock::paris(state.clock.now()),
        crate::clock::ZONE
    );
    let mail = templates::password_changed(&recipient(account, caf.as_deref(), &services), &when);
    tracing::info!(account = %account.id, "password changed; sessions and tokens revoked");
    state
        .tracer
        .record(
            crate::traces::Event::new("credential.password", crate::store::Outcome::Success)
                .account(account),
        )
        .await;
    state.mailer.send(mail).await.map_err(LifecycleError::Mail)
}

/// Ends every session of the person and revokes every grant, access token and API token.
pub async fn revoke_everything(state: &AppState, account: &Account) -> Result<(), StoreError> {
    let mut ended = Vec::new();
    for session in state
        .stores
        .sessions
        .sessions_of_account(&account.id)
        .await?
    {
        ended.extend(state.stores.sessions.remove_session(&session.sid).await?);
    }
    crate::oidc::backchannel::notify(state, ended);
    state
        .stores
        .tokens
        .revoke_grants_of_account(&account.id)
        .await?;
    state
        .stores
        .api_tokens
        .revoke_api_tokens_of(&account.id, state.clock.now())
        .await?;
    Ok(())
}

/// Caf-side action: the person must choose a new password at their next login (or next
/// authorization in an open session) before any relying application gets a code.
pub async fn force_password_change(
    state: &AppState,
    account: &Account,
) -> Result<(), LifecycleError> {
    state
        .stores
        .accounts
        .set_must_change_password(&account.id, true)
        .await?;
    Ok(())
}

/// Caf-side precaution: a suspended account cannot log in, and every use of its sessions and
/// tokens is refused from then on (each is checked against the account's status).
pub async fn set_suspended(
    state: &AppState,
    account: &Account,
    suspended: bool,
    reason: Option<&str>,
) -> Result<(), LifecycleError> {
    let status = match (suspended, account.status, account.password_hash.is_some()) {
        (true, _, _) => AccountStatus::Suspended,
        (false, AccountStatus::Suspended, true) => AccountStatus::Active,
        (false, AccountStatus::Suspended, false) => AccountStatus::Pending,
        (false, other, _) => other,
    };
    state
        .stores
        .accounts
        .set_status(&account.id, status, reason)
        .await?;
    if suspended {
        revoke_everything(state, account).await?;
    }
    Ok(())
}
