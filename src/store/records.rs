//! Plain records exchanged with the stores. Validation happens before a record is built (in
//! `provision`, `oidc`, `accounts`), so stores trust what they receive.

use crate::types::{
    AccountId, CafCode, ClientId, Email, GrantId, PartnerId, RedirectUri, Scopes, SessionId, Siret,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caf {
    pub code: CafCode,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub id: PartnerId,
    pub caf: CafCode,
    pub name: String,
    pub siret: Option<Siret>,
    /// The commune it serves or sits in, as people search for it ("Niort").
    pub commune: Option<String>,
}

impl Partner {
    /// A commune as a form or a file gives it: trimmed, nothing when blank.
    pub fn commune_of(value: Option<&str>) -> Option<String> {
        value
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|v| !v.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    /// Has a secret and authenticates at the token endpoint.
    Confidential,
    /// A browser or native application that cannot keep a secret: PKCE is mandatory.
    Public,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PkcePolicy {
    Required,
    /// Only for confidential clients that predate PKCE.
    Optional,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
pub enum SigningAlg {
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRole {
    pub code: String,
    pub label: String,
}

impl ServiceRole {
    /// "Action sociale (T1)": the label, with the code when it is one officers use (the
    /// agreements' T1, T18…), not a word repeating the label ("utilisateur").
    pub fn display(&self) -> String {
        role_display(&self.label, &self.code)
    }
}

/// See `ServiceRole::display`.
pub fn role_display(label: &str, code: &str) -> String {
    let officers_code = code.chars().any(|c| c.is_ascii_digit())
        || code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if officers_code && label != code {
        format!("{label} ({code})")
    } else {
        label.to_owned()
    }
}

/// A service: one relying application, registered as one OAuth 2.0 client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub client_id: ClientId,
    pub name: String,
    pub client_type: ClientType,
    /// SHA-256 of the client secret (secrets are 256-bit random values or at least 32
    /// characters, so a slow hash would add cost without adding safety).
    pub secret_sha256: Option<[u8; 32]>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub pkce: PkcePolicy,
    pub id_token_alg: SigningAlg,
    /// Scopes the client may obtain with `client_credentials`.
    pub client_scopes: Scopes,
    pub roles: Vec<ServiceRole>,
    /// Name of the password policy profile the service imposes on its users.
    pub password_policy: Option<String>,
    pub onboarding: Onboarding,
    pub mfa: MfaPolicy,
    /// Where to POST logout tokens when a person's sessions end (OpenID Connect Back-Channel
    /// Logout 1.0); https, or http on loopback.
    pub backchannel_logout_uri: Option<RedirectUri>,
    /// What the scope of the service's habilitations lists, if they have one.
    pub habilitation_scope: Option<HabilitationScopeKind>,
    /// The relying applications whose tokens this client may introspect, as their resource
    /// server (RFC 7662 §4); every client may introspect its own.
    pub introspects: Vec<ClientId>,
    pub protocol: ProtocolSettings,
}

/// Protocol options of one relying application, all off by default (stored as one JSON
/// object, so that a new option needs no new column).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProtocolSettings {
    /// Authorization requests only through `/par` (RFC 9126 §5).
    pub require_pushed_authorization_requests: bool,
    /// Seconds after a refresh during which the same refresh token, presented again, gets the
    /// same new tokens instead of revoking its family (0: no grace).
    pub refresh_grace_seconds: u32,
    /// The client's public keys for `private_key_jwt` (a JWKS document), inline…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// …or where to fetch them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Tokens only bound to a DPoP key (RFC 9449 §5.2).
    pub dpop_bound_access_tokens: bool,
    /// Seconds of inactivity after which this service's refresh tokens expire and its next
    /// login asks for the password again, when shorter than `sessions.idle_timeout_seconds`
    /// (0: that setting alone).
    pub idle_seconds: u32,
    /// For `client_secret_jwt` and HS256 request objects: the client secret sealed under the
    /// server key `client-secrets` (`oidc::client_keys::seal_client_secret`); none otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed_secret: Option<String>,
}

/// The kind of values a habilitation's scope holds for a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HabilitationScopeKind {
    /// INSEE codes of communes (monenfant: the communes an information point covers).
    InseeCommunes,
}

impl HabilitationScopeKind {
    pub fn label(self) -> &'static str {
        match self {
            HabilitationScopeKind::InseeCommunes => "communes (codes INSEE)",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaPolicy {
    #[default]
    Optional,
    /// No code is issued for this service without a second factor.
    Required,
}

/// A person's TOTP factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub secret: Vec<u8>,
    pub confirmed_at: Option<i64>,
    pub last_step: i64,
}

/// How a service's new users receive their first credential.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Onboarding {
    /// A single-use link to choose a password (the default).
    #[default]
    ActivationLink,
    /// Legacy: a random temporary password by mail, single use, valid at most 24 hours, to be
    /// replaced before any relying application gets a code.
    TemporaryPassword,
}

impl Service {
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AccountStatus {
    /// Created, password not chosen yet.
    Pending,
    Active,
    Suspended,
}

/// What provisioning and administrators set on an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProfile {
    pub email: Email,
    pub civility: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub function: Option<String>,
    pub partner: Option<PartnerId>,
    pub caf: Option<CafCode>,
    /// Services the account was created for (their password policies apply).
    pub services: Vec<ClientId>,
    /// Passerelle's administrative roles the person holds.
    pub admin_roles: Vec<AdminRole>,
}

/// The administrative roles of the seed agreements. What each may do is the habilitation
/// model's business; holding any of them imposes the administrator password profile and a
/// second factor.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AdminRole {
    CafHabilitationOfficer,
    PartnerAdministrator,
    PartnerSubstitute,
    DelegatedManager,
    SecurityOfficer,
    NationalOperator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub profile: AccountProfile,
    /// Argon2id PHC string; `None` until the person chose a password.
    pub password_hash: Option<String>,
    pub status: AccountStatus,
    /// No code is issued until the person has chosen a new password.
    pub must_change_password: bool,
    /// Set while the password is a temporary one (see `Onboarding::TemporaryPassword`).
    pub temporary_password_expires_at: Option<i64>,
    /// Set when the account was closed (departure): it never logs in again and is deleted
    /// when the retention period ends.
    pub closed_at: Option<i64>,
    /// Why the account was last suspended, reactivated or closed.
    pub status_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A signed statement of the accounts whose personal data the retention job erased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureAttestation {
    pub id: String,
    pub erased_at: i64,
    /// The last habilitation of each account ended before this time.
    pub ended_before: i64,
    /// Opaque ids only: what was erased is not restated.
    pub accounts: Vec<AccountId>,
    /// Compact JWS (`typ` `erasure+jwt`) over the fields above, verifiable with the JWKS.
    pub signature: String,
}

impl Account {
    /// May log in and use tokens: active and not closed.
    pub fn is_usable(&self) -> bool {
        self.status == AccountStatus::Active && self.closed_at.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    /// PKCS#8 DER of the private key.
    pub private_pkcs8: Vec<u8>,
    pub created_at: i64,
    pub retired_at: Option<i64>,
}

/// The public part of a signing key whose private part is gone, kept to verify the documents
/// it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredPublicKey {
    pub kid: String,
    pub alg: SigningAlg,
    /// The bytes the verifier reads (PKCS#1 for RSA, the uncompressed point for EC).
    pub public_key: Vec<u8>,
    /// The public JWK as it was published.
    pub jwk: String,
    pub created_at: i64,
    pub retired_at: i64,
}

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

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum LinkPurpose {
    /// Choose a first password.
    Activation,
    /// Choose a new password after "forgot password" or an administrator's reset.
    Reset,
    /// Lift a temporary lock after repeated failures.
    Unlock,
}

/// A single-use link, known by the digest of its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialLink {
    pub account: AccountId,
    pub purpose: LinkPurpose,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Why a link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    Unknown,
    Expired,
    /// Already used, replaced by a newer link, or revoked by a password change.
    Spent,
}

/// Login failures counted under one key (an identifier, or a client IP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempts {
    /// Failures since the last success.
    pub consecutive: u32,
    pub last_failure_at: i64,
    /// Times of the failures of the last 24 hours, oldest first.
    pub recent: Vec<i64>,
}

/// A CAPTCHA challenge, spent at its first answer: the code drawn in an image (typed by a
/// person), or a proof of work (computed by the page's script, for people who cannot read
/// the image): a nonce such that SHA-256(`work_salt` ‖ `:` ‖ nonce) starts with `work_bits`
/// zero bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    /// The image's code, normalised (lower case, no spaces).
    pub answers: Vec<String>,
    #[serde(default)]
    pub work_salt: String,
    #[serde(default)]
    pub work_bits: u8,
    pub png: Vec<u8>,
    pub expires_at: i64,
}

/// A personal API token: a named person's credential for scripts (the secret is kept only as a
/// digest; `id` is a public handle to list and revoke it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: String,
    pub account: AccountId,
    pub name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiToken {
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}
