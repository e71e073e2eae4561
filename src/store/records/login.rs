//! The records of a login and what it issues — sessions, pending and pushed requests, codes,
//! access tokens, refresh families — kept by the ephemeral store (memory or Redis).

use crate::types::{AccountId, ClientId, GrantId, RedirectUri, Scopes, SessionId};
use serde::{Deserialize, Serialize};

/// A browser session after a successful login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub sid: SessionId,
    /// SHA-256 of the secret half of the session cookie.
    pub secret_sha256: [u8; 32],
    pub account: AccountId,
    pub auth_time: i64,
    pub expires_at: i64,
    /// The last activity seen (a page, a refresh), to the minute; 0 in sessions stored before
    /// it was kept, which then count from `auth_time`.
    #[serde(default)]
    pub last_seen: i64,
    pub acr: String,
    pub amr: Vec<String>,
    /// The password was right but the second factor is still to be given: the session does
    /// not authenticate anyone yet.
    #[serde(default)]
    pub awaiting_second_factor: bool,
    /// Clients that received a grant in this session, and the grants (revoked at logout).
    pub clients: Vec<ClientId>,
    pub grants: Vec<GrantId>,
}

impl Session {
    /// The last activity seen, or the login itself.
    pub fn last_active(&self) -> i64 {
        self.last_seen.max(self.auth_time)
    }

    /// When the session ends if nothing more happens: `idle` seconds after its last activity
    /// (0: no idle limit), and never after its absolute end.
    pub fn ends_at(&self, idle: u64) -> i64 {
        if idle == 0 {
            self.expires_at
        } else {
            self.expires_at.min(self.last_active() + idle as i64)
        }
    }
}

/// An authorization request pushed by an authenticated client (RFC 9126): its parameters, as
/// the form it posted (client authentication left out), for `/authorize` to read once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRequest {
    pub client_id: ClientId,
    pub parameters: String,
}

/// A validated authorization request waiting for the person to log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub request: AuthorizationRequest,
    /// Email to pre-fill (`login_hint`).
    pub login_hint: Option<String>,
    /// Digest of the browser cookie of the browser that started the login.
    pub browser: String,
}

/// An authorization request after validation: everything needed to issue a code later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub scope: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub acr_values: Vec<String>,
    pub max_age: Option<i64>,
    #[serde(default)]
    pub response_mode: ResponseMode,
    #[serde(default, skip_serializing_if = "ClaimsRequest::is_empty")]
    pub claims: ClaimsRequest,
    /// The DPoP key the code will be bound to (RFC 9449 §10: `dpop_jkt`, or the key of the
    /// proof that came with the pushed request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

/// Claims asked for one by one with the `claims` request parameter (OIDC Core §5.5), beyond
/// what the scopes give: their names for the ID token and for userinfo, and the `acr` values
/// one of which is required (`acr` requested as essential).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acr_required: Vec<String>,
}

impl ClaimsRequest {
    pub fn is_empty(&self) -> bool {
        self.id_token.is_empty() && self.userinfo.is_empty() && self.acr_required.is_empty()
    }
}

/// How the authorization response reaches the client: in the redirect URI's query, or POSTed
/// by the browser from a page Passerelle serves (OAuth 2.0 Form Post Response Mode).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

/// What an authorization code stands for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    pub grant: GrantId,
    pub client_id: ClientId,
    pub redirect_uri: RedirectUri,
    pub account: AccountId,
    pub sid: SessionId,
    pub scope: Scopes,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
    /// When the browser session ends: the grant's refresh tokens end with it. `None` for an
    /// `offline_access` grant, whose refresh tokens outlive the session.
    #[serde(default)]
    pub session_expires_at: Option<i64>,
    #[serde(default, skip_serializing_if = "ClaimsRequest::is_empty")]
    pub claims: ClaimsRequest,
    /// The DPoP key that must prove the code's exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeConsumption {
    Fresh(CodeGrant),
    Replayed(CodeGrant),
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenRecord {
    pub client_id: ClientId,
    /// `None` for `client_credentials` tokens, which act for the service itself.
    pub account: Option<AccountId>,
    pub grant: Option<GrantId>,
    pub scope: Scopes,
    /// Claims userinfo answers beyond the scope's (the `claims` parameter).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
    /// The thumbprint of the DPoP key the token is bound to (RFC 9449 `cnf.jkt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// One refresh-token family: the chain of refresh tokens descending from one code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshFamily {
    pub grant: GrantId,
    pub client_id: ClientId,
    pub account: AccountId,
    pub sid: SessionId,
    pub scope: Scopes,
    #[serde(default, skip_serializing_if = "ClaimsRequest::is_empty")]
    pub claims: ClaimsRequest,
    /// The DPoP key the family is bound to: every refresh needs a proof by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    /// Seconds a refresh token of the family may go unused before it expires (each rotation
    /// restarts the count); 0: none (`offline_access`).
    #[serde(default)]
    pub idle_seconds: i64,
}

impl RefreshFamily {
    /// When a refresh token of the family issued at `at` stops working.
    pub fn token_expires_at(&self, at: i64) -> i64 {
        if self.idle_seconds > 0 {
            self.expires_at.min(at + self.idle_seconds)
        } else {
            self.expires_at
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshRotation {
    Rotated(RefreshFamily),
    /// The token just replaced came back within the client's grace window: nothing changed.
    Grace(RefreshFamily),
    /// A replaced token came back: the family is now revoked.
    Reused(RefreshFamily),
    /// Unknown, expired or revoked.
    Unknown,
}
