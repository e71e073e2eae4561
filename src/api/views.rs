//! What the admin API sends and receives. Times are RFC 3339 (UTC); validity dates are ISO
//! dates.

use crate::habilitations::manage::QuotaUse;
use crate::store::{
    Account, ChangeRecord, Contact, Convention, Group, Habilitation, Holder, Partner,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn enum_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    pub id: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub admin_roles: Vec<String>,
    pub partner: Option<String>,
    pub caf: Option<String>,
}

impl From<&Account> for MeView {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.to_string(),
            email: a.profile.email.to_string(),
            given_name: a.profile.given_name.clone(),
            family_name: a.profile.family_name.clone(),
            admin_roles: a.profile.admin_roles.iter().map(enum_name).collect(),
            partner: a.profile.partner.as_ref().map(|p| p.to_string()),
            caf: a.profile.caf.as_ref().map(|c| c.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerView {
    pub id: String,
    pub name: String,
    pub siret: Option<String>,
    pub commune: Option<String>,
    pub caf: String,
}

impl From<&Partner> for PartnerView {
    fn from(p: &Partner) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            siret: p.siret.as_ref().map(|s| s.to_string()),
            commune: p.commune.clone(),
            caf: p.caf.to_string(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    /// `partner` or `caf`.
    pub side: String,
    /// `habilitation_officer`, `security_officer` or `technical_referent`.
    pub role: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl From<&Contact> for ContactView {
    fn from(c: &Contact) -> Self {
        Self {
            side: enum_name(&c.side),
            role: enum_name(&c.role),
            name: c.name.clone(),
            email: c.email.as_ref().map(|e| e.to_string()),
            phone: c.phone.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConventionView {
    pub id: String,
    pub number: String,
    /// `cooperation`, `monenfant` or `mon_compte_partenaire`.
    pub kind: String,
    pub services: Vec<String>,
    pub starts_on: String,
    pub terminated_on: Option<String>,
    /// The end of the current 12-month period (next tacit renewal).
    pub current_period_end: String,
    pub in_force: bool,
    /// `delegue` or `centralise`.
    pub mode: String,
    pub contacts: Vec<ContactView>,
    /// The roles subscribed to, `"service|role"`; a service with none listed opens all its
    /// roles.
    pub roles: Vec<String>,
}

impl ConventionView {
    pub fn of(c: &Convention, today: chrono::NaiveDate) -> Self {
        Self {
            id: c.id.to_string(),
            number: c.number.clone(),
            kind: c.kind.as_str().to_owned(),
            services: c.services.iter().map(|s| s.to_string()).collect(),
            starts_on: c.starts_on.to_string(),
            terminated_on: c.terminated_on.map(|d| d.to_string()),
            current_period_end: c.current_period_end(today).to_string(),
            in_force: c.in_force_on(today),
            mode: c.mode.as_str().to_owned(),
            contacts: c.contacts.iter().map(ContactView::from).collect(),
            roles: c
                .roles
                .iter()
                .map(|r| format!("{}|{}", r.service, r.role))
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaView {
    pub convention: String,
    pub service: String,
    pub role: String,
    /// People holding the role now (directly or through a group).
    pub used: u32,
    /// `null` when the role has no quota.
    pub maximum: Option<u32>,
    pub remaining: Option<u32>,
}

impl From<&QuotaUse> for QuotaView {
    fn from(q: &QuotaUse) -> Self {
        Self {
            convention: q.convention.to_string(),
            service: q.client_id.to_string(),
            role: q.role.to_string(),
            used: q.used,
            maximum: q.maximum,
            remaining: q.remaining(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerDetail {
    pub partner: PartnerView,
    pub conventions: Vec<ConventionView>,
    pub quotas: Vec<QuotaView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    pub id: String,
    pub email: String,
    pub civility: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub function: Option<String>,
    pub partner: Option<String>,
    /// `pending`, `active`, `suspended`, or `closed`.
    pub status: String,
    pub status_reason: Option<String>,
    pub admin_roles: Vec<String>,
    pub closed_at: Option<String>,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> Self {
        Self {
            id: a.id.to_string(),
            email: a.profile.email.to_string(),
            civility: a.profile.civility.clone(),
            given_name: a.profile.given_name.clone(),
            family_name: a.profile.family_name.clone(),
            function: a.profile.function.clone(),
            partner: a.profile.partner.as_ref().map(|p| p.to_string()),
            status: if a.closed_at.is_some() {
                "closed".into()
            } else {
                a.status.as_str().to_owned()
            },
            status_reason: a.status_reason.clone(),
            admin_roles: a.profile.admin_roles.iter().map(enum_name).collect(),
            closed_at: a.closed_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HolderView {
    /// `account` or `group`.
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HabilitationView {
    pub id: String,
    pub partner: String,
    pub convention: String,
    pub service: String,
    pub role: String,
    pub scope: Vec<String>,
    pub holder: HolderView,
    pub valid_from: String,
    pub valid_until: Option<String>,
    /// `active`, `suspended` or `closed`.
    pub status: String,
    pub granted_by: String,
    pub granted_at: String,
    pub status_changed_at: String,
    pub status_changed_by: String,
    pub status_reason: Option<String>,
    pub closed_at: Option<String>,
    pub reviewed_at: Option<String>,
}

/// A habilitation as lists show it: with its partner's and holder's names, and whether it
/// gives access now.
#[derive(Debug, Serialize, ToSchema)]
pub struct HabilitationListItem {
    #[serde(flatten)]
    pub habilitation: HabilitationView,
    pub partner_name: String,
    /// "Family Given" of a person, or the group's name.
    pub holder_name: String,
    pub holder_email: Option<String>,
    /// Active, within its validity, and its holder's account usable.
    pub effective: bool,
}

impl From<&Habilitation> for HabilitationView {
    fn from(h: &Habilitation) -> Self {
        let holder = match &h.holder {
            Holder::Account(a) => HolderView {
                kind: "account".into(),
                id: a.to_string(),
            },
            Holder::Group(g) => HolderView {
                kind: "group".into(),
                id: g.to_string(),
            },
        };
        Self {
            id: h.id.to_string(),
            partner: h.partner.to_string(),
            convention: h.convention.to_string(),
            service: h.client_id.to_string(),
            role: h.role.to_string(),
            scope: h.scope.clone(),
            holder,
            valid_from: rfc3339(h.valid_from),
            valid_until: h.valid_until.map(rfc3339),
            status: h.status.as_str().to_owned(),
            granted_by: h.granted_by.clone(),
            granted_at: rfc3339(h.granted_at),
            status_changed_at: rfc3339(h.status_changed_at),
            status_changed_by: h.status_changed_by.clone(),
            status_reason: h.status_reason.clone(),
            closed_at: h.closed_at.map(rfc3339),
            reviewed_at: h.reviewed_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    pub id: String,
    pub partner: String,
    pub name: String,
    pub created_at: String,
    pub closed_at: Option<String>,
    /// Account ids of the members.
    pub members: Vec<String>,
}

impl GroupView {
    pub fn of(g: &Group, members: Vec<String>) -> Self {
        Self {
            id: g.id.to_string(),
            partner: g.partner.to_string(),
            name: g.name.clone(),
            created_at: rfc3339(g.created_at),
            closed_at: g.closed_at.map(rfc3339),
            members,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    pub at: String,
    /// Account id of the author, or `provisioning`, `annexe1`…
    pub actor: String,
    pub action: String,
    pub target: String,
    pub reason: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<&ChangeRecord> for ChangeView {
    fn from(c: &ChangeRecord) -> Self {
        Self {
            at: rfc3339(c.at),
            actor: c.actor.clone(),
            action: c.action.clone(),
            target: c.target.clone(),
            reason: c.reason.clone(),
            detail: c.detail.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AccountDetail {
    pub account: AccountView,
    /// Held directly or through groups, any status.
    pub habilitations: Vec<HabilitationView>,
    /// Group ids.
    pub groups: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub email: String,
    pub civility: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub function: Option<String>,
    /// Services the person is created for: named in the activation mail, and their password
    /// policies apply.
    #[serde(default)]
    pub services: Vec<String>,
    /// Confirms that an address which looks shared by a service (`accueil@…`, `service.*@…`)
    /// is read by this person only; without it such an address is refused (`shared_address`).
    #[serde(default)]
    pub named_person: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
/// A JSON merge patch (RFC 7396): a field left out stays as it is, `null` clears an optional
/// one (civility, function); names cannot be cleared.
pub struct AccountUpdate {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub civility: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub given_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub family_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub function: Option<Option<String>>,
}

/// A field that is present: `Some(None)` for `null`, `Some(Some(v))` for a value (a missing
/// field stays `None` through `#[serde(default)]`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Why: required when something is taken away (suspension, closure, mode switch…).
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHabilitation {
    /// Account id of the holder (or `group`).
    pub account: Option<String>,
    /// Group id of the holder (or `account`).
    pub group: Option<String>,
    pub service: String,
    pub role: String,
    #[serde(default)]
    pub scope: Vec<String>,
    /// First day (ISO date); today when absent.
    pub valid_from: Option<String>,
    /// Last day included (ISO date).
    pub valid_until: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `suspend`, `reactivate` or `close`.
    pub change: String,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentRequest {
    /// `principal` or `substitute`.
    pub role: String,
    /// `false` removes the appointment.
    pub appointed: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegationItem {
    pub service: String,
    /// A role of the service, or absent for all of them.
    pub role: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegationsRequest {
    /// Empty: the person is no longer a delegated manager.
    pub delegations: Vec<DelegationItem>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    /// Account id.
    pub account: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaRequest {
    pub service: String,
    pub role: String,
    /// `null` removes the quota.
    pub maximum: Option<u32>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeRequest {
    /// `delegue` or `centralise`.
    pub mode: String,
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewItemView {
    pub habilitation: HabilitationView,
    /// `confirm`, `withdraw`, or `null` while undecided.
    pub decision: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewView {
    pub id: String,
    pub partner: String,
    pub started_at: String,
    pub started_by: String,
    pub completed_at: Option<String>,
    pub completed_by: Option<String>,
    /// The open habilitations to decide on (while the review is open).
    pub items: Vec<ReviewItemView>,
    /// The signed report (compact JWS, `typ` `revue-inverse+jwt`), once completed.
    pub report: Option<String>,
}

impl ReviewView {
    pub fn of(
        r: &crate::store::Review,
        items: Vec<(Habilitation, Option<crate::store::ReviewDecision>)>,
    ) -> Self {
        Self {
            id: r.id.to_string(),
            partner: r.partner.to_string(),
            started_at: rfc3339(r.started_at),
            started_by: r.started_by.to_string(),
            completed_at: r.completed_at.map(rfc3339),
            completed_by: r.completed_by.as_ref().map(|a| a.to_string()),
            items: items
                .iter()
                .map(|(h, d)| ReviewItemView {
                    habilitation: HabilitationView::from(h),
                    decision: d.as_ref().map(enum_name),
                })
                .collect(),
            report: r.report.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverdueView {
    pub partner: PartnerView,
    pub last_completed_at: Option<String>,
    pub due_since: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// `confirm` or `withdraw`.
    pub decision: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPartner {
    /// A stable key: lowercase letters, digits and '-'.
    pub id: String,
    pub name: String,
    pub siret: Option<String>,
    /// The commune it serves or sits in.
    pub commune: Option<String>,
    /// Code of the Caf (département).
    pub caf: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactRequest {
    /// `partner` or `caf`.
    pub side: String,
    /// `habilitation_officer`, `security_officer` or `technical_referent`.
    pub role: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConventionRequest {
    pub number: String,
    /// `cooperation`, `monenfant` or `mon_compte_partenaire`.
    pub kind: String,
    /// Client ids of the services the convention opens.
    pub services: Vec<String>,
    /// ISO date.
    pub starts_on: String,
    /// ISO date of termination, if terminated.
    pub terminated_on: Option<String>,
    /// `delegue` (default) or `centralise`; on creation only (then `PUT …/mode`).
    pub mode: Option<String>,
    #[serde(default)]
    pub contacts: Vec<ContactRequest>,
    /// The roles subscribed to (the bulletin d'adhésion), `{ "service": …, "role": … }`:
    /// only those can be granted. A service with none listed opens all its roles.
    #[serde(default)]
    pub roles: Vec<SubscribedRoleRequest>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribedRoleRequest {
    pub service: String,
    pub role: String,
}
