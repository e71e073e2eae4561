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
use crate::store::{
    Account, AuthorizationRequest, CodeGrant, MfaPolicy, ResponseMode, Session, StoreResult,
};
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
    /// Add a passkey first (the service or their role demands a phishing-resistant factor).
    EnrolPasskey,
    /// No active habilitation for the service: no code (the trace is recorded).
    NotHabilitated { service: String },
    /// Done: the browser takes this response, which carries the code, to the client.
    Code { response: AuthorizationResponse },
}

/// An authorization response (or error) for the client, delivered by the browser in the
/// request's response mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    pub redirect_uri: RedirectUri,
    pub mode: ResponseMode,
    pub params: Vec<(&'static str, String)>,
}

impl AuthorizationResponse {
    /// A response of `pairs` (those that are `Some`).
    pub fn new(
        redirect_uri: &RedirectUri,
        mode: ResponseMode,
        pairs: &[(&'static str, Option<&str>)],
    ) -> Self {
        Self {
            redirect_uri: redirect_uri.clone(),
            mode,
            params: pairs
                .iter()
                .filter_map(|(k, v)| v.map(|v| (*k, v.to_owned())))
                .collect(),
        }
    }

    /// The redirect URI with the parameters in its query.
    pub fn url(&self) -> String {
        let pairs: Vec<(&str, Option<&str>)> = self
            .params
            .iter()
            .map(|(k, v)| (*k, Some(v.as_str())))
            .collect();
        url_with(&self.redirect_uri, &pairs)
    }
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
    if needs_phishing_resistance(state, account, &request.client_id).await?
        && !phishing_resistant(session)
    {
        let has = !state
            .stores
            .passkeys
            .passkeys_of(&account.id)
            .await?
            .is_empty();
        return Ok(if has {
            Next::SecondFactor
        } else {
            Next::EnrolPasskey
        });
    }
    if needs_second_factor(state, account, request, session).await? {
        let enrolled = crate::accounts::passkey::has_second_factor(&state.stores, account).await?;
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
        response: issue_code(state, request, session).await?,
    })
}

/// The RFC 8176 methods a passkey leaves in a session's `amr`.
pub const PASSKEY_AMR: [&str; 2] = ["hwk", "swk"];

/// Whether the session's second factor was a passkey.
pub fn phishing_resistant(session: &Session) -> bool {
    session
        .amr
        .iter()
        .any(|m| PASSKEY_AMR.contains(&m.as_str()))
}

/// Whether only a passkey will do for `account` at `client` (none given: the console): the
/// service's `mfa = "phishing_resistant"`, or an administrative role under
/// `credentials.phishing_resistant_for_administrators`.
pub async fn needs_phishing_resistance(
    state: &AppState,
    account: &Account,
    client: &ClientId,
) -> StoreResult<bool> {
    if state.settings.phishing_resistant_for_administrators
        && !account.profile.admin_roles.is_empty()
    {
        return Ok(true);
    }
    let service = state.clients.get(client.as_str()).await?;
    Ok(service.is_some_and(|s| s.mfa == MfaPolicy::PhishingResistant))
}

/// Whether `request` needs a second factor that `session` has not given: the person holds an
/// administrative role, the service requires one, the relying application requires it (an
/// essential `acr` in the `claims` parameter) or prefers it in `acr_values` (step-up, see
/// [`prefers_second_factor`]).
pub async fn needs_second_factor(
    state: &AppState,
    account: &Account,
    request: &AuthorizationRequest,
    session: &Session,
) -> StoreResult<bool> {
    if session.acr == ACR_MFA {
        return Ok(false);
    }
    if state.settings.mfa_for_administrators && !account.profile.admin_roles.is_empty() {
        return Ok(true);
    }
    let service = state.clients.get(request.client_id.as_str()).await?;
    if service.is_some_and(|s| s.mfa.requires_second_factor()) {
        return Ok(true);
    }
    // An essential acr (the `claims` parameter) that a password alone does not meet.
    let required = &request.claims.acr_required;
    if !required.is_empty() && !required.iter().any(|v| v == ACR_PASSWORD) {
        return Ok(true);
    }
    if !request.acr_values.iter().any(|v| v == ACR_MFA) {
        return Ok(false);
    }
    let enrolled = crate::accounts::passkey::has_second_factor(&state.stores, account).await?;
    Ok(prefers_second_factor(&request.acr_values, enrolled))
}

/// `acr_values` is a list of preferences, best first (OIDC Core §3.1.2.1, voluntary): the
/// first value that can be met wins. A password session meets `pwd` at once; `mfa` is met by
/// asking the factor the person enrolled. When no value can be met so (`mfa` alone, nothing
/// enrolled), the first known value is pursued, which means enrolling a factor. Unknown
/// values are ignored.
pub fn prefers_second_factor(acr_values: &[String], enrolled: bool) -> bool {
    let known: Vec<&str> = acr_values
        .iter()
        .map(String::as_str)
        .filter(|v| [ACR_PASSWORD, ACR_MFA].contains(v))
        .collect();
    match known.iter().find(|v| **v == ACR_PASSWORD || enrolled) {
        Some(first) => *first == ACR_MFA,
        None => known.first() == Some(&ACR_MFA),
    }
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

/// Stores a single-use code for `request` within `session`; returns the response to the
/// client carrying it.
async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &Session,
) -> StoreResult<AuthorizationResponse> {
    let code = random_token();
    let grant = GrantId::generate();
    // An offline_access grant outlives the session (OIDC Core §11): its end does not revoke
    // it, and its refresh tokens last their own lifetime.
    let online = !request.scope.contains(crate::oidc::claims::OFFLINE_ACCESS);
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
        session_expires_at: online.then_some(session.expires_at),
        claims: request.claims.clone(),
        dpop_jkt: request.dpop_jkt.clone(),
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
        .add_session_grant(&session.sid, &request.client_id, online.then_some(&grant))
        .await?;
    tracing::info!(client = %request.client_id, account = %session.account, "authorization code issued");
    Ok(AuthorizationResponse::new(
        &request.redirect_uri,
        request.response_mode,
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
    // Without a parameter to add the URI stays itself (no trailing `?`).
    if pairs.iter().any(|(_, v)| v.is_some()) {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefers(values: &[&str], enrolled: bool) -> bool {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        prefers_second_factor(&values, enrolled)
    }

    #[test]
    fn acr_values_are_preferences_met_in_order() {
        // A password first: a password session meets it, enrolled or not.
        assert!(!prefers(&[ACR_PASSWORD, ACR_MFA], false));
        assert!(!prefers(&[ACR_PASSWORD, ACR_MFA], true));
        // The factor first: asked when enrolled, else the password meets the second choice.
        assert!(prefers(&[ACR_MFA, ACR_PASSWORD], true));
        assert!(!prefers(&[ACR_MFA, ACR_PASSWORD], false));
        // The factor alone: asked, or enrolled first.
        assert!(prefers(&[ACR_MFA], true));
        assert!(prefers(&["urn:other", ACR_MFA], false));
        // Nothing known: nothing asked.
        assert!(!prefers(&["urn:other"], true));
        assert!(!prefers(&[], true));
    }
}
