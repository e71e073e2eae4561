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

struct Validated {
    cafs: Vec<Caf>,
    partners: Vec<Partner>,
    services: Vec<Service>,
    conventions: Vec<(Convention, Vec<QuotaLine>)>,
    accounts: Vec<ValidatedAccount>,
    groups: Vec<ValidatedGroup>,
}

/// A quota of a convention: service, role, maximum.
type QuotaLine = (ClientId, RoleCode, u32);

struct ValidatedAccount {
    profile: AccountProfile,
    password: Option<Password>,
    habilitations: Vec<GrantSpec>,
    delegations: Vec<Delegation>,
}

struct ValidatedGroup {
    partner: PartnerId,
    name: String,
    members: Vec<Email>,
    habilitations: Vec<GrantSpec>,
}

#[derive(Debug, Clone)]
struct GrantSpec {
    client_id: ClientId,
    role: RoleCode,
    scope: Vec<String>,
    valid_until: Option<i64>,
}

/// What validation needs to know of services and conventions, from the file or the store.
struct Known {
    services: BTreeMap<ClientId, Service>,
    conventions: Vec<Convention>,
}

impl Known {
    async fn service(
        &mut self,
        stores: &Stores,
        id: &ClientId,
    ) -> Result<Option<Service>, ProvisionError> {
        if let Some(s) = self.services.get(id) {
            return Ok(Some(s.clone()));
        }
        let found = stores.services.get_service(id).await?;
        if let Some(s) = &found {
            self.services.insert(id.clone(), s.clone());
        }
        Ok(found)
    }

    /// Checks a habilitation entry for a person or group of `partner`.
    async fn grant(
        &mut self,
        stores: &Stores,
        partner: &PartnerId,
        entry: &HabilitationEntry,
    ) -> Result<GrantSpec, String> {
        let client_id = ClientId::parse(&entry.service).map_err(|e| e.0)?;
        let service = self
            .service(stores, &client_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!("service `{client_id}` is neither in this file nor provisioned")
            })?;
        let role = RoleCode::parse(&entry.role).map_err(|e| e.0)?;
        let scope = manage::validate_role_and_scope(&service, &role, &entry.scope)
            .map_err(|e| e.to_string())?;
        let mut conventions = stores
            .habilitations
            .conventions_of_partner(partner)
            .await
            .map_err(|e| e.to_string())?;
        conventions.extend(
            self.conventions
                .iter()
                .filter(|c| &c.partner == partner)
                .cloned(),
        );
        let today = crate::habilitations::today();
        if !conventions
            .iter()
            .any(|c| c.in_force_on(today) && c.services.contains(&client_id))
        {
            return Err(format!(
                "no convention in force opens service `{client_id}` to partner `{partner}`"
            ));
        }
        Ok(GrantSpec {
            client_id,
            role,
            scope,
            valid_until: entry.valid_until.map(|d| {
                d.and_hms_opt(0, 0, 0)
                    .expect("midnight exists")
                    .and_utc()
                    .timestamp()
            }),
        })
    }
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
    state: &AppState,
    allow_passwords: bool,
) -> Result<Validated, ProvisionError> {
    let (stores, policies) = (&state.stores, &state.policies);
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
            backchannel_logout_uri: s
                .backchannel_logout_uri
                .as_deref()
                .map(RedirectUri::parse)
                .transpose()
                .map_err(|e| ctx(format!("backchannel_logout_uri: {e}")))?,
            habilitation_scope: s.habilitation_scope,
            introspects: s
                .introspects
                .iter()
                .map(|c| ClientId::parse(c).map_err(|e| ctx(format!("introspects: {e}"))))
                .collect::<Result<_, _>>()?,
        });
    }
    let mut known = Known {
        services: services
            .iter()
            .map(|s| (s.client_id.clone(), s.clone()))
            .collect(),
        conventions: Vec::new(),
    };
    let mut conventions = Vec::new();
    let mut numbers = BTreeSet::new();
    for c in &file.convention {
        let id = ConventionId::parse(&c.id)
            .map_err(|e| ProvisionError::Invalid(format!("convention: {e}")))?;
        let ctx = |m: String| ProvisionError::Invalid(format!("convention `{id}`: {m}"));
        if c.number.trim().is_empty() || !numbers.insert(c.number.trim().to_owned()) {
            return Err(ctx("number is empty or appears twice".into()));
        }
        let partner_id = PartnerId::parse(&c.partner).map_err(|e| ctx(e.0))?;
        let caf = match partners.iter().find(|p| p.id == partner_id) {
            Some(p) => p.caf.clone(),
            None => match stores.organisations.get_partner(&partner_id).await? {
                Some(p) => p.caf,
                None => {
                    return Err(ctx(format!(
                        "partner `{partner_id}` is neither in this file nor provisioned"
                    )));
                }
            },
        };
        let mut convention_services = Vec::new();
        for s in &c.services {
            let client_id = ClientId::parse(s).map_err(|e| ctx(e.0))?;
            if known.service(stores, &client_id).await?.is_none() {
                return Err(ctx(format!(
                    "service `{client_id}` is neither in this file nor provisioned"
                )));
            }
            convention_services.push(client_id);
        }
        if let Some(end) = c.terminated_on
            && end <= c.starts_on
        {
            return Err(ctx("terminated_on must follow starts_on".into()));
        }
        let mut quotas = Vec::new();
        for q in &c.quotas {
            let client_id = ClientId::parse(&q.service).map_err(|e| ctx(e.0))?;
            if !convention_services.contains(&client_id) {
                return Err(ctx(format!(
                    "quota for service `{client_id}`, which the convention does not open"
                )));
            }
            let role = RoleCode::parse(&q.role).map_err(|e| ctx(e.0))?;
            let service = known
                .service(stores, &client_id)
                .await?
                .expect("checked above");
            manage::check_role(&service, &role).map_err(|e| ctx(e.to_string()))?;
            quotas.push((client_id, role, q.maximum));
        }
        let convention = Convention {
            id,
            number: c.number.trim().to_owned(),
            kind: c.kind,
            caf,
            partner: partner_id,
            services: convention_services,
            starts_on: c.starts_on,
            terminated_on: c.terminated_on,
            mode: c.mode,
            contacts: c.contacts.clone(),
        };
        known.conventions.push(convention.clone());
        conventions.push((convention, quotas));
    }
    let mut accounts = Vec::new();
    let mut emails = BTreeSet::new();
    for a in &file.account {
        let email =
            Email::parse(&a.email).map_err(|e| ProvisionError::Invalid(format!("account: {e}")))?;
        let shown = email.to_string();
        let ctx = |m: String| ProvisionError::Invalid(format!("account `{shown}`: {m}"));
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
            Some(p) => Some(Password::new(p.clone())),
            None => None,
        };
        let mut habilitations = Vec::new();
        let mut delegations = Vec::new();
        if !a.habilitations.is_empty() || !a.delegations.is_empty() {
            let Some(p) = &partner else {
                return Err(ctx(
                    "habilitations and delegations are for partner staff only".into(),
                ));
            };
            for h in &a.habilitations {
                habilitations.push(known.grant(stores, p, h).await.map_err(ctx)?);
            }
            if !a.delegations.is_empty() && !a.admin_roles.contains(&AdminRole::DelegatedManager) {
                return Err(ctx("delegations need the delegated_manager role".into()));
            }
            for d in &a.delegations {
                let client_id = ClientId::parse(&d.service).map_err(|e| ctx(e.0))?;
                let service = known
                    .service(stores, &client_id)
                    .await?
                    .ok_or_else(|| ctx(format!("service `{client_id}` is unknown")))?;
                let role = d
                    .role
                    .as_deref()
                    .map(RoleCode::parse)
                    .transpose()
                    .map_err(|e| ctx(e.0))?;
                if let Some(role) = &role {
                    manage::check_role(&service, role).map_err(|e| ctx(e.to_string()))?;
                }
                delegations.push(Delegation { client_id, role });
            }
        }
        let partner_roles = [
            AdminRole::PartnerAdministrator,
            AdminRole::PartnerSubstitute,
            AdminRole::DelegatedManager,
        ];
        if partner.is_none() && a.admin_roles.iter().any(|r| partner_roles.contains(r)) {
            return Err(ctx("partner administrator roles need `partner`".into()));
        }
        if caf.is_none() && a.admin_roles.contains(&AdminRole::CafHabilitationOfficer) {
            return Err(ctx("caf_habilitation_officer needs `caf`".into()));
        }
        let profile = AccountProfile {
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
        };
        if let Some(password) = &password {
            // A demo password obeys the policy its holder will be held to, like any other.
            let mut services = profile.services.clone();
            services.extend(habilitations.iter().map(|h| h.client_id.clone()));
            let mut names = Vec::new();
            if !profile.admin_roles.is_empty() {
                names.push(state.settings.administrator_password_policy.clone());
            }
            for id in &services {
                if let Some(s) = known.service(stores, id).await? {
                    names.extend(s.password_policy);
                }
            }
            let policy = policies.strictest(names.iter().map(String::as_str));
            let given = [profile.given_name.as_str(), profile.family_name.as_str()];
            let person = PersonalContext {
                email_local_part: profile.email.local_part(),
                names: &given,
            };
            let failures = policy.check(password.expose(), &person);
            if !failures.is_empty() {
                let rules: Vec<String> = failures.iter().map(|f| f.french()).collect();
                return Err(ctx(format!(
                    "the demo password breaks the password policy of this account: {}",
                    rules.join(" ")
                )));
            }
        }
        accounts.push(ValidatedAccount {
            habilitations,
            delegations,
            profile,
            password,
        });
    }
    let mut groups = Vec::new();
    let mut group_keys = BTreeSet::new();
    for g in &file.group {
        let partner = PartnerId::parse(&g.partner)
            .map_err(|e| ProvisionError::Invalid(format!("group: {e}")))?;
        let ctx =
            |m: String| ProvisionError::Invalid(format!("group `{}` of `{partner}`: {m}", g.name));
        if g.name.trim().is_empty()
            || !group_keys.insert((partner.clone(), g.name.trim().to_owned()))
        {
            return Err(ctx("name is empty or appears twice".into()));
        }
        let mut members = Vec::new();
        for m in &g.members {
            let email = Email::parse(m).map_err(|e| ctx(e.0))?;
            let member_partner = match accounts.iter().find(|a| a.profile.email == email) {
                Some(a) => a.profile.partner.clone(),
                None => stores
                    .accounts
                    .find_account_by_email(&email)
                    .await?
                    .and_then(|a| a.profile.partner),
            };
            if member_partner.as_ref() != Some(&partner) {
                return Err(ctx(format!(
                    "member {email} is not an account of this partner"
                )));
            }
            members.push(email);
        }
        let mut habilitations = Vec::new();
        for h in &g.habilitations {
            habilitations.push(known.grant(stores, &partner, h).await.map_err(ctx)?);
        }
        groups.push(ValidatedGroup {
            partner,
            name: g.name.trim().to_owned(),
            members,
            habilitations,
        });
    }
    Ok(Validated {
        cafs,
        partners,
        services,
        conventions,
        accounts,
        groups,
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
    let v = validate(file, state, allow_passwords).await?;
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
    let author = Author::System("provisioning");
    for (convention, quotas) in &v.conventions {
        let context = context_of(state, &convention.partner).await?;
        let (saved, change) =
            manage::save_convention_as(state, author, &context, convention.clone())
                .await
                .map_err(provision_error)?;
        report.count(change);
        // Quotas count against the conventions in force, this one included.
        let context = context_of(state, &convention.partner).await?;
        for (client_id, role, maximum) in quotas {
            manage::set_quota_as(
                state,
                author,
                &context,
                &saved,
                client_id,
                role,
                Some(*maximum),
                None,
            )
            .await
            .map_err(provision_error)?;
        }
    }
    let mut grants = Vec::new();
    for ValidatedAccount {
        profile,
        password,
        habilitations,
        delegations,
    } in v.accounts
    {
        let (id, change) = manage::provision_account_as(state, author, &profile)
            .await
            .map_err(provision_error)?;
        report.count(change);
        if let Some(partner) = &profile.partner {
            for spec in habilitations {
                grants.push((partner.clone(), Holder::Account(id.clone()), spec));
            }
            if !delegations.is_empty() {
                let context = context_of(state, partner).await?;
                let account = account_of(state, &profile.email).await?;
                manage::delegate_as(state, author, &context, &account, delegations, None)
                    .await
                    .map_err(provision_error)?;
            }
        }
        if let Some(password) = password {
            let current = account_of(state, &profile.email).await?.password_hash;
            // Re-applying the demo keeps the hash it already has when the password still matches.
            if !hasher.verify(password.clone(), current).await {
                let hash = hasher.hash(password).await?;
                stores.accounts.set_password_hash(&id, &hash).await?;
                report.passwords_set += 1;
            }
        }
    }
    for g in v.groups {
        let context = context_of(state, &g.partner).await?;
        let existing = stores
            .habilitations
            .groups_of_partner(&g.partner)
            .await?
            .into_iter()
            .find(|existing| existing.name == g.name && existing.closed_at.is_none());
        let group = match existing {
            Some(group) => group,
            None => {
                report.created += 1;
                manage::create_group_as(state, author, &context, &g.name)
                    .await
                    .map_err(provision_error)?
            }
        };
        let members = stores.habilitations.group_members(&group.id).await?;
        for email in &g.members {
            let account = account_of(state, email).await?;
            if members.contains(&account.id) {
                continue;
            }
            manage::add_member_as(state, author, &context, &group, &account.id)
                .await
                .map_err(|e| {
                    ProvisionError::Invalid(format!(
                        "group `{}`: adding {email} refused: {e}",
                        g.name
                    ))
                })?;
        }
        for spec in g.habilitations {
            grants.push((g.partner.clone(), Holder::Group(group.id.clone()), spec));
        }
    }
    for (partner, holder, spec) in grants {
        let context = context_of(state, &partner).await?;
        let request = GrantRequest {
            holder,
            client_id: spec.client_id.clone(),
            role: spec.role.clone(),
            scope: spec.scope,
            valid_from: None,
            valid_until: spec.valid_until,
        };
        match manage::grant_as(state, author, &context, request, None).await {
            Ok(_) => report.created += 1,
            // Re-applying a file finds its habilitations already open.
            Err(HabilitationError::Conflict(_)) => report.unchanged += 1,
            Err(e) => {
                return Err(ProvisionError::Invalid(format!(
                    "habilitation {}/{} for partner `{partner}`: {e}",
                    spec.client_id, spec.role
                )));
            }
        }
    }
    for r in &file.review {
        apply_review(state, r).await?;
    }
    Ok(report)
}

async fn context_of(
    state: &AppState,
    partner: &PartnerId,
) -> Result<PartnerContext, ProvisionError> {
    PartnerContext::load(state, partner)
        .await
        .map_err(provision_error)
}

/// An account the file validated (and apply just upserted).
async fn account_of(state: &AppState, email: &Email) -> Result<Account, ProvisionError> {
    state
        .stores
        .accounts
        .find_account_by_email(email)
        .await?
        .ok_or_else(|| ProvisionError::Invalid(format!("{email} vanished")))
}

fn provision_error(e: HabilitationError) -> ProvisionError {
    match e {
        HabilitationError::Store(e) => ProvisionError::Store(e),
        other => ProvisionError::Invalid(other.to_string()),
    }
}

async fn apply_review(state: &AppState, entry: &ReviewEntry) -> Result<(), ProvisionError> {
    use crate::habilitations::{Actor, review};
    use crate::store::ReviewDecision;
    let ctx = |m: String| ProvisionError::Invalid(format!("review of `{}`: {m}", entry.partner));
    let partner = PartnerId::parse(&entry.partner).map_err(|e| ctx(e.0))?;
    if !state
        .stores
        .habilitations
        .reviews_of_partner(&partner)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let email = Email::parse(&entry.by).map_err(|e| ctx(e.0))?;
    let account = state
        .stores
        .accounts
        .find_account_by_email(&email)
        .await?
        .ok_or_else(|| ctx(format!("no account for {email}")))?;
    let actor = Actor::of(state, account)
        .await
        .map_err(|e| ctx(e.to_string()))?;
    let started = review::start(state, &actor, &partner)
        .await
        .map_err(|e| ctx(e.to_string()))?;
    for (h, _) in review::items(state, &started)
        .await
        .map_err(|e| ctx(e.to_string()))?
    {
        review::decide(state, &actor, &started.id, &h.id, ReviewDecision::Confirm)
            .await
            .map_err(|e| ctx(e.to_string()))?;
    }
    if entry.complete {
        review::complete(state, &actor, &started.id)
            .await
            .map_err(|e| ctx(e.to_string()))?;
    }
    Ok(())
}
