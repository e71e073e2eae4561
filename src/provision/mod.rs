//! Declarative, idempotent provisioning: Cafs, partners, services (clients) and accounts from a
//! TOML file. The whole file is validated before anything is written, and applying the same
//! file twice changes nothing. `config/demo.toml` is the documented example of the format.

use crate::accounts::password::Password;
use crate::accounts::policy::PersonalContext;
use crate::crypto::sha256;
use crate::habilitations::manage::{self, Author, GrantRequest};
use crate::habilitations::{HabilitationError, PartnerContext};
use crate::state::AppState;
use crate::store::{
    Account, AccountProfile, AdminRole, Caf, Change, ClientType, Convention, Delegation, GrantType,
    Holder, Partner, PkcePolicy, Service, ServiceRole, SigningAlg, Stores,
};
use crate::types::{
    CafCode, ClientId, ConventionId, Email, PartnerId, RedirectUri, RoleCode, Scopes, Siret,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod apply;
mod protocol;
mod validate;
pub use apply::apply;
use validate::*;

/// The shortest client secret accepted: secrets are stored as SHA-256 digests, which is only
/// safe for high-entropy values.
pub const MIN_SECRET_LENGTH: usize = 32;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionFile {
    #[serde(default)]
    pub caf: Vec<CafEntry>,
    #[serde(default)]
    pub partner: Vec<PartnerEntry>,
    #[serde(default)]
    pub service: Vec<ServiceEntry>,
    #[serde(default)]
    pub convention: Vec<ConventionEntry>,
    #[serde(default)]
    pub group: Vec<GroupEntry>,
    #[serde(default)]
    pub account: Vec<AccountEntry>,
    #[serde(default)]
    pub review: Vec<ReviewEntry>,
}

/// A yearly review carried out at provisioning (the demo's example): every open
/// habilitation confirmed by `by`, completed and signed when `complete`. Skipped when the
/// partner already has a review.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewEntry {
    pub partner: String,
    /// Email of the principal administrator or substitute who reviews.
    pub by: String,
    #[serde(default)]
    pub complete: bool,
}

/// A convention between a Caf and a partner: the Caf is the partner's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConventionEntry {
    /// A stable key (letters, digits, '-').
    pub id: String,
    pub number: String,
    pub kind: crate::store::ConventionKind,
    pub partner: String,
    pub services: Vec<String>,
    pub starts_on: chrono::NaiveDate,
    pub terminated_on: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub mode: crate::store::HabilitationMode,
    #[serde(default)]
    pub contacts: Vec<crate::store::Contact>,
    #[serde(default)]
    pub quotas: Vec<QuotaEntry>,
    /// The roles subscribed to, per service: `[{ service = "cdap", roles = ["T1", "T4"] }]`.
    /// A service not listed opens all its roles.
    #[serde(default)]
    pub roles: Vec<RolesEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolesEntry {
    pub service: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaEntry {
    pub service: String,
    pub role: String,
    pub maximum: u32,
}

/// A group of people of one partner, with the habilitations its members share.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    pub partner: String,
    pub name: String,
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub habilitations: Vec<HabilitationEntry>,
}

/// A service role granted in provisioning (by `provisioning`, within quotas).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HabilitationEntry {
    pub service: String,
    pub role: String,
    #[serde(default)]
    pub scope: Vec<String>,
    /// The last day included (Europe/Paris).
    pub valid_until: Option<chrono::NaiveDate>,
}

/// What a delegated manager may manage: a service, and one role of it or all.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationEntry {
    pub service: String,
    pub role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CafEntry {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerEntry {
    pub id: String,
    pub caf: String,
    pub name: String,
    pub siret: Option<String>,
    pub commune: Option<String>,
}

fn default_grants() -> Vec<GrantType> {
    vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
}

fn default_pkce() -> PkcePolicy {
    PkcePolicy::Required
}

fn default_alg() -> String {
    "RS256".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    pub client_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub client_type: ClientType,
    pub secret: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default = "default_grants")]
    pub grant_types: Vec<GrantType>,
    #[serde(default = "default_pkce")]
    pub pkce: PkcePolicy,
    #[serde(default = "default_alg")]
    pub id_token_signed_response_alg: String,
    #[serde(default)]
    pub client_scopes: Vec<String>,
    #[serde(default)]
    pub roles: Vec<ServiceRole>,
    /// Name of a `[password_policies.NAME]` profile imposed on the service's users.
    pub password_policy: Option<String>,
    /// `activation_link` (default) or `temporary_password` (legacy services).
    #[serde(default)]
    pub onboarding: crate::store::Onboarding,
    /// `optional` (default) or `required`: no code without a second factor.
    #[serde(default)]
    pub mfa: crate::store::MfaPolicy,
    /// Where logout tokens are POSTed when a person's sessions end.
    pub backchannel_logout_uri: Option<String>,
    /// `insee_communes` when habilitations list the communes they cover.
    pub habilitation_scope: Option<crate::store::HabilitationScopeKind>,
    /// Client ids of the relying applications whose tokens this client, as their resource
    /// server, may introspect (its own tokens always).
    #[serde(default)]
    pub introspects: Vec<String>,
    /// Authorization requests only through `/par` (RFC 9126).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// Seconds in which a refresh token just used may be presented again (concurrent
    /// refreshes) and get the same new tokens; 0 (default): any reuse revokes the family.
    #[serde(default)]
    pub refresh_token_grace_seconds: u32,
    /// The service's public keys for private_key_jwt client authentication: a JWKS document
    /// (JSON text)…
    pub jwks: Option<String>,
    /// …or the https address it is published at (fetched with a timeout, cached 5 minutes).
    pub jwks_uri: Option<String>,
    /// true: tokens are only issued bound to a DPoP key (RFC 9449).
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// true: the FAPI 2.0 Security Profile — pushed requests, PKCE, private_key_jwt only (keys
    /// and no secret), DPoP-bound tokens.
    #[serde(default)]
    pub fapi2: bool,
    /// true: the service may also authenticate with `client_secret_jwt` and sign request
    /// objects with HS256, both keyed by its secret, which Passerelle then keeps sealed under a
    /// server key beside its digest (needed to check a MAC).
    #[serde(default)]
    pub client_secret_jwt: bool,
    /// Seconds of inactivity after which the service's refresh tokens expire and its next
    /// login asks for the password again, when shorter than the configuration's
    /// `sessions.idle_timeout_seconds`; 0 (default): that setting.
    #[serde(default)]
    pub session_idle_seconds: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    pub email: String,
    pub civility: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub function: Option<String>,
    pub partner: Option<String>,
    pub caf: Option<String>,
    /// Client ids of the services the account is created for.
    #[serde(default)]
    pub services: Vec<String>,
    /// Administrative roles: caf_habilitation_officer, partner_administrator,
    /// partner_substitute, delegated_manager, security_officer, national_operator.
    #[serde(default)]
    pub admin_roles: Vec<crate::store::AdminRole>,
    /// Service roles granted to the person (partner staff only).
    #[serde(default)]
    pub habilitations: Vec<HabilitationEntry>,
    /// For a delegated manager: what partner administrators delegated.
    #[serde(default)]
    pub delegations: Vec<DelegationEntry>,
    /// Only `passerelle demo` accepts it: real people choose their password themselves.
    pub password: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What applying a file did, per kind of entry.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub passwords_set: usize,
}

impl Report {
    fn count(&mut self, change: Change) {
        match change {
            Change::Created => self.created += 1,
            Change::Updated => self.updated += 1,
            Change::Unchanged => self.unchanged += 1,
        }
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged, {} demo passwords set",
            self.created, self.updated, self.unchanged, self.passwords_set
        )
    }
}

pub fn parse(text: &str, origin: &str) -> Result<ProvisionFile, ProvisionError> {
    toml::from_str(text).map_err(|e| {
        let message = e.message().to_owned();
        let line = e
            .span()
            .map(|s| format!(" (line {})", text[..s.start].lines().count().max(1)))
            .unwrap_or_default();
        ProvisionError::Invalid(format!("{origin}{line}: {message}"))
    })
}

pub fn read(path: &Path) -> Result<ProvisionFile, ProvisionError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ProvisionError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    parse(&text, &path.display().to_string())
}
