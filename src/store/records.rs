//! Plain records exchanged with the stores. Validation happens before a record is built (in
//! `provision`, `oidc`, `accounts`), so stores trust what they receive.

use crate::types::{AccountId, CafCode, ClientId, Email, PartnerId, RedirectUri, Scopes, Siret};
use serde::{Deserialize, Serialize};

mod login;
pub use login::*;

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
    /// Only a passkey will do: a second factor a look-alike site cannot relay (a TOTP code
    /// can be typed into one).
    PhishingResistant,
}

impl MfaPolicy {
    pub fn requires_second_factor(self) -> bool {
        self != Self::Optional
    }
}

/// One of a person's WebAuthn passkeys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    /// Passerelle's handle, to name it in pages and remove it.
    pub id: String,
    pub account: AccountId,
    /// The authenticator's credential id.
    pub credential_id: Vec<u8>,
    /// What the person called it ("Clé USB du bureau").
    pub name: String,
    /// The verified credential, as `accounts::passkey` serialises it (public key, counter).
    pub credential: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
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
    /// A WebAuthn ceremony's state instead (`accounts::passkey`): answered once like the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ceremony: Option<String>,
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
