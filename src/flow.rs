//! The steps of a login after the person is authenticated, decided in one place for both
//! paths that reach them — `/authorize` with a browser session already open, and the pages
//! (password, second factor, forced password change) that finish a parked request:
//!
//! forced password change → second factor (or its enrolment) → habilitation → code.
//!
//! [`next`] returns the step; `oidc::authorize` and `web` only turn it into a redirect or a
//! page. Nothing here speaks HTTP: a code comes back as the URL to send the browser to.

use crate::crypto::{TokenHash, random_token};
use crate::state::AppState;
use crate::store::{Account, AuthorizationRequest, CodeGrant, MfaPolicy, Session, StoreResult};
use crate::types::{ClientId, GrantId, RedirectUri};

/// The authentication context of a password login.
pub const ACR_PASSWORD: &str = "urn:passerelle:acr:pwd";
/// The authentication context of a password and a second factor (TOTP or recovery code).
pub const ACR_MFA: &str = "urn:passerelle:acr:mfa";

/// What the person must do next before the relying application gets its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Choose a new password (temporary password, or the Caf asked for it).
    ChangePassword,
    /// Give the second factor they enrolled.
    SecondFactor,
    /// Enrol a second factor first (the service, their role or the request demands one).
    Enrol,
    /// No active habilitation for the service: no code (the trace is recorded).
    NotHabilitated { service: String },
    /// Done: the browser goes to this URL, which carries the code.
    Code { redirect: String },
}

/// Decides the next step for `request` in `session`, and issues the code when nothing is left.
pub async fn next(
    state: &AppState,
    account: &Account,
    session: &Session,
    request: &AuthorizationRequest,
) -> StoreResult<Next> {
    if account.must_change_password {
        return Ok(Next::ChangePassword);
    }
    if needs_second_factor(state, account, request, session).await? {
        let enrolled =
            crate::accounts::totp::enrolled(state.stores.factors.as_ref(), account).await?;
        return Ok(if enrolled {
            Next::SecondFactor
        } else {
            Next::Enrol
        });
    }
    if !habilitated(state, account, &request.client_id).await? {
        let service = state.clients.get(request.client_id.as_str()).await?;
        tracing::info!(client = %request.client_id, account = %session.account, "login refused: no habilitation for the service");
        state
            .tracer
            .record(
                crate::traces::Event::new("auth.code", crate::store::Outcome::Failure)
                    .account(account)
                    .session(&session.sid)
                    .client(&request.client_id)
                    .reason("no_habilitation"),
            )
            .await;
        return Ok(Next::NotHabilitated {
            service: service.map(|s| s.name.clone()).unwrap_or_default(),
        });
    }
    Ok(Next::Code {
        redirect: issue_code(state, request, session).await?,
    })
}

/// Whether `request` needs a second factor that `session` has not given: the person holds an
/// administrative role, the service requires one, or the relying application asked for it with
/// `acr_values` (step-up).
pub async fn needs_second_factor(
    state: &AppState,
    account: &Account,
    request: &AuthorizationRequest,
    session: &Session,
) -> StoreResult<bool> {
    if session.acr == ACR_MFA {
        return Ok(false);
    }
    if request.acr_values.iter().any(|v| v == ACR_MFA) {
        return Ok(true);
    }
    if state.settings.mfa_for_administrators && !account.profile.admin_roles.is_empty() {
        return Ok(true);
    }
    let service = state.clients.get(request.client_id.as_str()).await?;
    Ok(service.is_some_and(|s| s.mfa == MfaPolicy::Required))
}

/// Whether the person holds, right now, an active habilitation for the service: without one,
/// no code is issued for it.
pub async fn habilitated(
    state: &AppState,
    account: &Account,
    client_id: &ClientId,
) -> StoreResult<bool> {
    Ok(!crate::habilitations::effective(state, account, client_id)
        .await?
        .is_empty())
}

/// Stores a single-use code for `request` within `session`; returns the redirect URL to the
/// client carrying it.
async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &Session,
) -> StoreResult<String> {
    let code = random_token();
    let grant = GrantId::generate();
    let record = CodeGrant {
        grant: grant.clone(),
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        account: session.account.clone(),
        sid: session.sid.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: session.auth_time,
        acr: session.acr.clone(),
        amr: session.amr.clone(),
        expires_at: state.clock.now() + state.settings.code_ttl as i64,
    };
    state
        .stores
        .codes
        .insert_code(TokenHash::of(&code), &record)
        .await?;
    state
        .stores
        .sessions
        .add_session_grant(&session.sid, &request.client_id, &grant)
        .await?;
    tracing::info!(client = %request.client_id, account = %session.account, "authorization code issued");
    Ok(url_with(
        &request.redirect_uri,
        &[
            ("code", Some(&code)),
            ("state", request.state.as_deref()),
            ("iss", Some(&state.settings.issuer)),
        ],
    ))
}

/// A registered redirect URI with query parameters appended (those that are `Some`).
pub fn url_with(redirect_uri: &RedirectUri, pairs: &[(&str, Option<&str>)]) -> String {
    let mut url = url::Url::parse(redirect_uri.as_str()).expect("registered redirect URIs parse");
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    url.into()
}
