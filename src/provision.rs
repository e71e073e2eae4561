//! Declarative, idempotent provisioning: Cafs, partners, services (clients) and accounts from a
//! TOML file. The whole file is validated before anything is written, and applying the same
//! file twice changes nothing. `config/demo.toml` is the documented example of the format.

use crate::accounts::password::Password;
use crate::accounts::policy::Policies;
use crate::crypto::sha256;
use crate::state::AppState;
use crate::store::{
    AccountProfile, Caf, Change, ClientType, GrantType, Partner, PkcePolicy, Service, ServiceRole,
    SigningAlg, Stores,
};
use crate::types::{CafCode, ClientId, Email, PartnerId, RedirectUri, Scopes, Siret};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;

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
    pub account: Vec<AccountEntry>,
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

struct Validated {
    cafs: Vec<Caf>,
    partners: Vec<Partner>,
    services: Vec<Service>,
    accounts: Vec<(AccountProfile, Option<Password>)>,
}

async fn caf_known(
    stores: &Stores,
    listed: &BTreeSet<CafCode>,
    code: &CafCode,
) -> Result<bool, ProvisionError> {
    Ok(listed.contains(code) || stores.organisations.get_caf(code).await?.is_some())
}

fn invalid<T>(message: String) -> Result<T, ProvisionError> {
    Err(ProvisionError::Invalid(message))
}

async fn validate(
    file: &ProvisionFile,
    stores: &Stores,
    policies: &Policies,
    allow_passwords: bool,
) -> Result<Validated, ProvisionError> {
    let mut cafs = Vec::new();
    let mut caf_codes = BTreeSet::new();
    for c in &file.caf {
        let code =
            CafCode::parse(&c.code).map_err(|e| ProvisionError::Invalid(format!("caf: {e}")))?;
        if c.name.trim().is_empty() {
            return invalid(format!("caf `{code}`: name must not be empty"));
        }
        if !caf_codes.insert(code.clone()) {
            return invalid(format!("caf `{code}` appears twice"));
        }
        cafs.push(Caf {
            code,
            name: c.name.trim().to_owned(),
        });
    }
    let mut partners = Vec::new();
    let mut partner_ids = BTreeSet::new();
    for p in &file.partner {
        let id = PartnerId::parse(&p.id)
            .map_err(|e| ProvisionError::Invalid(format!("partner: {e}")))?;
        let caf = CafCode::parse(&p.caf)
            .map_err(|e| ProvisionError::Invalid(format!("partner `{id}`: {e}")))?;
        if !caf_known(stores, &caf_codes, &caf).await? {
            return invalid(format!(
                "partner `{id}`: Caf `{caf}` is neither in this file nor provisioned"
            ));
        }
        let siret = p
            .siret
            .as_deref()
            .map(Siret::parse)
            .transpose()
            .map_err(|e| ProvisionError::Invalid(format!("partner `{id}`: {e}")))?;
        if p.name.trim().is_empty() {
            return invalid(format!("partner `{id}`: name must not be empty"));
        }
        if !partner_ids.insert(id.clone()) {
            return invalid(format!("partner `{id}` appears twice"));
        }
        partners.push(Partner {
            id,
            caf,
            name: p.name.trim().to_owned(),
            siret,
        });
    }
    let mut services = Vec::new();
    let mut client_ids = BTreeSet::new();
    for s in &file.service {
        let client_id = ClientId::parse(&s.client_id)
            .map_err(|e| ProvisionError::Invalid(format!("service: {e}")))?;
        let ctx = |m: String| ProvisionError::Invalid(format!("service `{client_id}`: {m}"));
        if !client_ids.insert(client_id.clone()) {
            return Err(ctx("appears twice".into()));
        }
        let parse_uris = |uris: &[String]| -> Result<Vec<RedirectUri>, ProvisionError> {
            uris.iter()
                .map(|u| RedirectUri::parse(u).map_err(|e| ctx(e.0)))
                .collect()
        };
        let redirect_uris = parse_uris(&s.redirect_uris)?;
        let post_logout_redirect_uris = parse_uris(&s.post_logout_redirect_uris)?;
        let secret_sha256 = match (s.client_type, &s.secret) {
            (ClientType::Confidential, Some(secret))
                if secret.chars().count() >= MIN_SECRET_LENGTH =>
            {
                Some(sha256(secret.as_bytes()))
            }
            (ClientType::Confidential, Some(_)) => {
                return Err(ctx(format!(
                    "secret must have at least {MIN_SECRET_LENGTH} characters"
                )));
            }
            (ClientType::Confidential, None) => {
                return Err(ctx("a confidential service needs a secret".into()));
            }
            (ClientType::Public, Some(_)) => {
                return Err(ctx("a public service cannot have a secret".into()));
            }
            (ClientType::Public, None) => None,
        };
        if s.client_type == ClientType::Public && s.pkce == PkcePolicy::Optional {
            return Err(ctx("PKCE cannot be optional for a public service".into()));
        }
        if s.grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(ctx(
                "the authorization_code grant needs at least one redirect URI".into(),
            ));
        }
        if s.client_type == ClientType::Public
            && s.grant_types.contains(&GrantType::ClientCredentials)
        {
            return Err(ctx("a public service cannot use client_credentials".into()));
        }
        let id_token_alg = SigningAlg::parse(&s.id_token_signed_response_alg).ok_or_else(|| {
            ctx(format!(
                "id_token_signed_response_alg `{}` must be RS256, ES256 or EdDSA",
                s.id_token_signed_response_alg
            ))
        })?;
        let client_scopes = Scopes::parse(&s.client_scopes.join(" ")).map_err(|e| ctx(e.0))?;
        if client_scopes.contains("openid") {
            return Err(ctx(
                "client_scopes are for client_credentials and cannot contain `openid`".into(),
            ));
        }
        let mut role_codes = BTreeSet::new();
        for r in &s.roles {
            if r.code.trim().is_empty() || !role_codes.insert(r.code.clone()) {
                return Err(ctx(format!("role `{}` is empty or appears twice", r.code)));
            }
        }
        if let Some(policy) = &s.password_policy
            && !policies.contains(policy)
        {
            return Err(ctx(format!(
                "password_policy `{policy}` is not configured (known: {})",
                policies.names().collect::<Vec<_>>().join(", ")
            )));
        }
        let mut grant_types = s.grant_types.clone();
        grant_types.sort_by_key(|g| g.as_str());
        grant_types.dedup();
        services.push(Service {
            client_id: client_id.clone(),
            name: s.name.trim().to_owned(),
            client_type: s.client_type,
            secret_sha256,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            pkce: s.pkce,
            id_token_alg,
            client_scopes,
            roles: s.roles.clone(),
            password_policy: s.password_policy.clone(),
            onboarding: s.onboarding,
            mfa: s.mfa,
        });
    }
    let mut accounts = Vec::new();
    let mut emails = BTreeSet::new();
    for a in &file.account {
        let email =
            Email::parse(&a.email).map_err(|e| ProvisionError::Invalid(format!("account: {e}")))?;
        let ctx = |m: String| ProvisionError::Invalid(format!("account `{email}`: {m}"));
        if !emails.insert(email.clone()) {
            return Err(ctx("appears twice".into()));
        }
        if a.given_name.trim().is_empty() || a.family_name.trim().is_empty() {
            return Err(ctx("given_name and family_name are required".into()));
        }
        let partner = a
            .partner
            .as_deref()
            .map(PartnerId::parse)
            .transpose()
            .map_err(|e| ctx(e.0))?;
        if let Some(p) = &partner
            && !partner_ids.contains(p)
            && stores.organisations.get_partner(p).await?.is_none()
        {
            return Err(ctx(format!(
                "partner `{p}` is neither in this file nor provisioned"
            )));
        }
        let caf = a
            .caf
            .as_deref()
            .map(CafCode::parse)
            .transpose()
            .map_err(|e| ctx(e.0))?;
        if let Some(c) = &caf
            && !caf_known(stores, &caf_codes, c).await?
        {
            return Err(ctx(format!(
                "Caf `{c}` is neither in this file nor provisioned"
            )));
        }
        if partner.is_some() == caf.is_some() {
            return Err(ctx(
                "set exactly one of `partner` (partner staff) or `caf` (Caf staff)".into(),
            ));
        }
        let mut services = Vec::new();
        for id in &a.services {
            let id = ClientId::parse(id).map_err(|e| ctx(e.0))?;
            if !client_ids.contains(&id) && stores.services.get_service(&id).await?.is_none() {
                return Err(ctx(format!(
                    "service `{id}` is neither in this file nor provisioned"
                )));
            }
            services.push(id);
        }
        let password = match &a.password {
            Some(_) if !allow_passwords => {
                return Err(ctx(
                    "passwords cannot be provisioned: the person chooses theirs through the activation link (only `passerelle demo` accepts demo passwords)".into(),
                ));
            }
            Some(p) if p.chars().count() < 8 => {
                return Err(ctx("a demo password needs at least 8 characters".into()));
            }
            Some(p) => Some(Password::new(p.clone())),
            None => None,
        };
        accounts.push((
            AccountProfile {
                email,
                civility: a.civility.clone(),
                given_name: a.given_name.trim().to_owned(),
                family_name: a.family_name.trim().to_owned(),
                function: a.function.clone(),
                partner,
                caf,
                services,
                admin_roles: {
                    let mut roles = a.admin_roles.clone();
                    roles.sort();
                    roles.dedup();
                    roles
                },
            },
            password,
        ));
    }
    Ok(Validated {
        cafs,
        partners,
        services,
        accounts,
    })
}

/// Validates the whole file, then upserts every entry. `allow_passwords` is true only for the
/// demo, whose fictional accounts need a known password.
pub async fn apply(
    state: &AppState,
    file: &ProvisionFile,
    allow_passwords: bool,
) -> Result<Report, ProvisionError> {
    let (stores, hasher) = (&state.stores, &state.hasher);
    let v = validate(file, stores, &state.policies, allow_passwords).await?;
    let mut report = Report::default();
    for caf in &v.cafs {
        report.count(stores.organisations.upsert_caf(caf).await?);
    }
    for partner in &v.partners {
        report.count(stores.organisations.upsert_partner(partner).await?);
    }
    for service in &v.services {
        report.count(stores.services.upsert_service(service).await?);
    }
    for (profile, password) in v.accounts {
        let (id, change) = stores.accounts.upsert_account(&profile).await?;
        report.count(change);
        if let Some(password) = password {
            let account = stores.accounts.get_account(&id).await?;
            let current = account.and_then(|a| a.password_hash);
            // Re-applying the demo keeps the hash it already has when the password still matches.
            if !hasher.verify(password.clone(), current).await {
                let hash = hasher.hash(password).await?;
                stores.accounts.set_password_hash(&id, &hash).await?;
                report.passwords_set += 1;
            }
        }
    }
    Ok(report)
}
