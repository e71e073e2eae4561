//! The habilitation model of the seed agreements: who acts for which partner, which service
//! roles each person holds, and who may change that.
//!
//! `access` decides whether an actor may do an action on a partner; `manage` carries out the
//! changes (each checked, then recorded with who, when, what and why); `effective` answers the
//! login path ("does this person hold a role for this service right now?").
//!
//! Architecture Invariant: every change to a partner's habilitations goes through `manage`,
//! which checks `access::check` first and records a `ChangeRecord` after. The console, the API,
//! the annexe 1 import and provisioning differ only in who the actor is.

pub mod access;
pub mod annexe1;
pub mod directory;
pub mod manage;
pub mod notify;
pub mod review;

use crate::accounts::lifecycle::LifecycleError;
use crate::state::AppState;
use crate::store::{
    Account, AdminRole, Convention, Delegation, Habilitation, HabilitationMode, Holder, Partner,
    QuotaTable, StoreError,
};
use crate::types::{AccountId, ClientId, PartnerId, RoleCode};
use chrono::NaiveDate;

/// The kinds of record a request may name; the edges say them in French
/// (`labels::record`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Record {
    Account,
    Partner,
    Group,
    Convention,
    Habilitation,
    Service,
    Caf,
    Review,
    Request,
    ApiToken,
    Attestation,
    Alert,
    TraceRequest,
}

/// Why a habilitation command was refused. `Forbidden`, `Invalid` and `Conflict` carry the
/// sentence for the person, composed where the facts are; `NotFound` and `QuotaReached`
/// carry data, which the edges word (`labels::refusal`). `Display` is for logs.
#[derive(Debug, thiserror::Error)]
pub enum HabilitationError {
    /// Unknown, or outside what the actor may see (the two are not told apart).
    #[error("{} not found", <&str>::from(.0))]
    NotFound(Record),
    /// Visible to the actor but not theirs to change; the message says why.
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed or contradicts the model; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    #[error("quota reached: at most {maximum} holders of role {role} of service {service}")]
    QuotaReached {
        service: String,
        role: String,
        maximum: u32,
    },
    /// The address looks shared by a service (`credentials.collective_addresses`): accounts are
    /// nominative, so it is refused unless whoever creates it confirms it names one person.
    #[error("address {0} looks shared")]
    SharedAddress(crate::types::Email),
    /// The change conflicts with the current state (already held, already appointed…).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
}

pub type HabResult<T> = Result<T, HabilitationError>;

/// The scope values a person typed (INSEE codes…), separated by commas, semicolons or spaces.
pub fn scope_list(text: &str) -> Vec<String> {
    text.split([',', ';', ' ', '\t', '\n', '\r'])
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The person acting, with the administrative roles that decide what they may do.
#[derive(Debug, Clone)]
pub struct Actor {
    pub account: Account,
    /// What partner administrators delegated to this person, if a delegated manager.
    pub delegations: Vec<Delegation>,
}

impl Actor {
    /// The actor behind an account; refused when the account holds no administrative role or
    /// cannot log in.
    pub async fn of(state: &AppState, account: Account) -> HabResult<Self> {
        if account.profile.admin_roles.is_empty() || !account.is_usable() {
            return Err(HabilitationError::Forbidden(
                "Ce compte n'a pas de rôle d'administration.".into(),
            ));
        }
        let delegations = if account
            .profile
            .admin_roles
            .contains(&AdminRole::DelegatedManager)
        {
            state
                .stores
                .habilitations
                .delegations_of(&account.id)
                .await?
        } else {
            Vec::new()
        };
        Ok(Self {
            account,
            delegations,
        })
    }

    pub async fn load(state: &AppState, id: &AccountId) -> HabResult<Self> {
        let account = state
            .stores
            .accounts
            .get_account(id)
            .await?
            .ok_or(HabilitationError::NotFound(Record::Account))?;
        Self::of(state, account).await
    }

    /// The reference recorded as the author of a change.
    pub fn reference(&self) -> String {
        self.account.id.to_string()
    }

    pub fn holds(&self, role: AdminRole) -> bool {
        self.account.profile.admin_roles.contains(&role)
    }

    pub fn id(&self) -> &AccountId {
        &self.account.id
    }
}

/// Who made a change: a person, or a named automatic source.
#[derive(Debug, Clone, Copy)]
pub enum Author<'a> {
    Person(&'a Actor),
    /// `provisioning`, `annexe1`, `retention`…
    System(&'static str),
}

impl Author<'_> {
    pub fn reference(&self) -> String {
        match self {
            Author::Person(actor) => actor.reference(),
            Author::System(name) => (*name).to_owned(),
        }
    }
}

/// A partner with its conventions, as one request sees them.
#[derive(Debug, Clone)]
pub struct PartnerContext {
    pub partner: Partner,
    pub conventions: Vec<Convention>,
    pub today: NaiveDate,
    /// Whether it has a principal administrator or substitute (without one, in centralized
    /// mode, the Caf does its yearly review).
    pub has_administrator: bool,
}

impl PartnerContext {
    pub async fn load(state: &AppState, id: &PartnerId) -> HabResult<Self> {
        let partner = state
            .stores
            .organisations
            .get_partner(id)
            .await?
            .ok_or(HabilitationError::NotFound(Record::Partner))?;
        let conventions = state
            .stores
            .habilitations
            .conventions_of_partner(id)
            .await?;
        let has_administrator = state.stores.accounts.partner_has_administrator(id).await?;
        Ok(Self {
            partner,
            conventions,
            today: today(),
            has_administrator,
        })
    }

    pub fn in_force(&self) -> impl Iterator<Item = &Convention> {
        self.conventions
            .iter()
            .filter(|c| c.in_force_on(self.today))
    }

    /// The convention in force that opens `client_id` to the partner.
    pub fn convention_for(&self, client_id: &ClientId) -> Option<&Convention> {
        self.in_force().find(|c| c.services.contains(client_id))
    }

    /// Whether a convention in force is in `mode` (people and groups are managed by the
    /// partner when one is delegated, by the Caf when one is centralized).
    pub fn has_mode(&self, mode: HabilitationMode) -> bool {
        self.in_force().any(|c| c.mode == mode)
    }

    /// The quotas of the conventions in force, by service and role.
    pub async fn quotas(&self, state: &AppState) -> HabResult<QuotaTable> {
        let mut table = QuotaTable::new();
        for convention in self.in_force() {
            for quota in state
                .stores
                .habilitations
                .quotas_of_convention(&convention.id)
                .await?
            {
                table.insert((quota.client_id, quota.role), quota.maximum);
            }
        }
        Ok(table)
    }
}

/// A record of a partner, found and within the actor's reach: the partner's context, or "not
/// found" (named `what`) whether the record is missing or belongs to a partner the actor
/// cannot see, so that the two are not told apart.
pub async fn in_reach<T>(
    state: &AppState,
    actor: &Actor,
    what: Record,
    record: Option<T>,
    partner_of: impl FnOnce(&T) -> Option<PartnerId>,
) -> HabResult<(T, PartnerContext)> {
    let record = record.ok_or(HabilitationError::NotFound(what))?;
    let partner = partner_of(&record).ok_or(HabilitationError::NotFound(what))?;
    let context = PartnerContext::load(state, &partner).await?;
    if !access::can_see(actor, &context.partner) {
        return Err(HabilitationError::NotFound(what));
    }
    Ok((record, context))
}

/// Today's date (UTC), the day conventions are judged on.
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The habilitations that let `account` use `client_id` now: active, within their dates, held
/// directly or through an open group, under a convention in force.
pub async fn effective(
    state: &AppState,
    account: &Account,
    client_id: &ClientId,
) -> Result<Vec<Habilitation>, StoreError> {
    let Some(partner) = &account.profile.partner else {
        return Ok(Vec::new());
    };
    let now = state.clock.now();
    let day = today();
    let held: Vec<Habilitation> = state
        .stores
        .habilitations
        .habilitations_of_account(&account.id)
        .await?
        .into_iter()
        .filter(|h| &h.client_id == client_id && &h.partner == partner && h.is_effective(now))
        .collect();
    if held.is_empty() {
        return Ok(held);
    }
    let conventions = state
        .stores
        .habilitations
        .conventions_of_partner(partner)
        .await?;
    Ok(held
        .into_iter()
        .filter(|h| {
            conventions
                .iter()
                .any(|c| c.id == h.convention && c.in_force_on(day))
        })
        .collect())
}

/// The roles held for one service, as relying applications receive them (`habilitations`
/// claim): one entry per role, scopes merged.
pub fn roles_claim(held: &[Habilitation]) -> Vec<RoleClaim> {
    let mut roles: Vec<RoleClaim> = Vec::new();
    for h in held {
        match roles.iter_mut().find(|r| r.role == h.role) {
            Some(existing) => {
                existing.scope.extend(h.scope.iter().cloned());
                existing.scope.sort();
                existing.scope.dedup();
            }
            None => roles.push(RoleClaim {
                role: h.role.clone(),
                scope: h.scope.clone(),
            }),
        }
    }
    roles.sort_by(|a, b| a.role.cmp(&b.role));
    roles
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoleClaim {
    pub role: RoleCode,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
}

/// The people a habilitation reaches: its holder, or the members of its group.
pub async fn people_reached(
    state: &AppState,
    habilitation: &Habilitation,
) -> Result<Vec<AccountId>, StoreError> {
    Ok(match &habilitation.holder {
        Holder::Account(a) => vec![a.clone()],
        Holder::Group(g) => state.stores.habilitations.group_members(g).await?,
    })
}
