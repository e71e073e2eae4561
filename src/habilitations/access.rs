//! Who may do what, from the "Mon Compte Partenaire" agreement:
//!
//! | actor | reach | may |
//! |---|---|---|
//! | national operator | every Caf | what a Caf habilitation officer may |
//! | Caf habilitation officer | partners of their Caf | edit conventions, set quotas, switch the mode, appoint the principal administrator and substitute, manage people and groups, grant and withdraw in centralized mode (and, in any mode, the habilitations of the two administrators), suspend any habilitation or account as a precaution, force a password change |
//! | partner principal administrator, substitute | their partner | in delegated mode: manage people, groups and habilitations (not those of the two administrators), name delegated managers; the reverse review |
//! | delegated manager | their partner | in delegated mode: the same, for the service roles delegated to them, and not for administrators or other managers |
//! | security officer (Caf or partner side) | their Caf's partners, or their partner | read only |
//!
//! Anything outside the actor's reach is answered as not found, so that a partner's
//! administrator cannot even learn what another partner has.

use super::{Actor, HabResult, HabilitationError, PartnerContext};
use crate::habilitations::Record;
use crate::store::{Account, AdminRole, Delegation, HabilitationMode, Partner};
use crate::types::{ClientId, RoleCode};

/// Who a change is about, when it is about a person: the two administrators' rights are the
/// Caf's alone, and delegated managers do not manage each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The partner's principal administrator or substitute.
    Administrator,
    DelegatedManager,
    /// Anyone else, or a group.
    Other,
}

impl Target {
    pub fn of(account: &Account) -> Self {
        let roles = &account.profile.admin_roles;
        if roles.contains(&AdminRole::PartnerAdministrator)
            || roles.contains(&AdminRole::PartnerSubstitute)
        {
            Target::Administrator
        } else if roles.contains(&AdminRole::DelegatedManager) {
            Target::DelegatedManager
        } else {
            Target::Other
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    View,
    EditConvention,
    SetQuota,
    SwitchMode,
    AppointAdministrators,
    ForcePasswordChange,
    /// Remove a person's second factor (a lost phone), so that they enrol again.
    ResetSecondFactor,
    /// Create people.
    ManageUsers,
    /// Correct a person's profile: the same reach as suspending their account.
    EditPerson {
        target: Target,
    },
    ManageGroups,
    NameDelegatedManagers,
    PerformReview,
    /// Grant or withdraw (close) a habilitation of this service role.
    Grant {
        client_id: &'a ClientId,
        role: &'a RoleCode,
        target: Target,
    },
    /// Suspend or reactivate a habilitation of this service role.
    Suspend {
        client_id: &'a ClientId,
        role: &'a RoleCode,
        target: Target,
    },
    SuspendAccount {
        target: Target,
    },
    /// Close an account on departure (with every habilitation it holds).
    CloseAccount {
        target: Target,
    },
}

impl Action<'_> {
    /// A stable name, for records and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Action::View => "view",
            Action::EditConvention => "convention.edit",
            Action::SetQuota => "quota.set",
            Action::SwitchMode => "convention.mode",
            Action::AppointAdministrators => "administrators.appoint",
            Action::ForcePasswordChange => "account.force_password_change",
            Action::ResetSecondFactor => "account.reset_second_factor",
            Action::ManageUsers => "account.manage",
            Action::EditPerson { .. } => "account.update",
            Action::ManageGroups => "group.manage",
            Action::NameDelegatedManagers => "delegated_manager.name",
            Action::PerformReview => "review.perform",
            Action::Grant { .. } => "habilitation.grant",
            Action::Suspend { .. } => "habilitation.suspend",
            Action::SuspendAccount { .. } => "account.suspend",
            Action::CloseAccount { .. } => "account.close",
        }
    }
}

/// Whether the actor's reach includes the partner (what they may see at all).
pub fn can_see(actor: &Actor, partner: &Partner) -> bool {
    is_caf_side(actor, partner)
        || actor.account.profile.partner.as_ref() == Some(&partner.id)
            && [
                AdminRole::PartnerAdministrator,
                AdminRole::PartnerSubstitute,
                AdminRole::DelegatedManager,
                AdminRole::SecurityOfficer,
            ]
            .iter()
            .any(|r| actor.holds(*r))
}

/// A national operator, or a Caf habilitation officer or Caf security officer of the
/// partner's Caf.
fn is_caf_side(actor: &Actor, partner: &Partner) -> bool {
    actor.holds(AdminRole::NationalOperator)
        || actor.account.profile.caf.as_ref() == Some(&partner.caf)
            && (actor.holds(AdminRole::CafHabilitationOfficer)
                || actor.holds(AdminRole::SecurityOfficer))
}

/// Who decides the requests a partner addresses to its Caf: its habilitation officer (or a
/// national operator).
pub fn decides_requests(actor: &Actor, partner: &Partner) -> bool {
    is_caf_officer(actor, partner)
}

/// Who addresses requests to the Caf for a partner: its principal administrator, substitute
/// and delegated managers.
pub fn files_requests(actor: &Actor, partner: &Partner) -> bool {
    is_partner_administrator(actor, partner) || is_delegated_manager(actor, partner)
}

/// What a requester may ask the Caf for about a service role: the partner's administrators
/// anything but the two administrators' own habilitations, a delegated manager only within
/// the roles delegated to them and for people who administer nothing.
pub fn may_request(
    actor: &Actor,
    partner: &Partner,
    client_id: &ClientId,
    role: &RoleCode,
    target: Target,
) -> bool {
    is_partner_administrator(actor, partner) && target != Target::Administrator
        || is_delegated_manager(actor, partner)
            && target == Target::Other
            && delegation_covers(&actor.delegations, client_id, role)
}

/// Who withdraws a pending request besides its requester: the partner's principal
/// administrator and substitute.
pub fn cancels_requests(actor: &Actor, partner: &Partner) -> bool {
    is_partner_administrator(actor, partner)
}

/// A national operator, or the habilitation officer of the partner's Caf.
fn is_caf_officer(actor: &Actor, partner: &Partner) -> bool {
    actor.holds(AdminRole::NationalOperator)
        || actor.account.profile.caf.as_ref() == Some(&partner.caf)
            && actor.holds(AdminRole::CafHabilitationOfficer)
}

/// The partner's own principal administrator or substitute.
fn is_partner_administrator(actor: &Actor, partner: &Partner) -> bool {
    actor.account.profile.partner.as_ref() == Some(&partner.id)
        && (actor.holds(AdminRole::PartnerAdministrator)
            || actor.holds(AdminRole::PartnerSubstitute))
}

fn is_delegated_manager(actor: &Actor, partner: &Partner) -> bool {
    actor.account.profile.partner.as_ref() == Some(&partner.id)
        && actor.holds(AdminRole::DelegatedManager)
}

fn delegation_covers(delegations: &[Delegation], client_id: &ClientId, role: &RoleCode) -> bool {
    delegations.iter().any(|d| d.covers(client_id, role))
}

fn forbidden(message: &str) -> HabilitationError {
    HabilitationError::Forbidden(message.to_owned())
}

/// Checks that `actor` may do `action` on the partner of `context`. Outside the actor's reach
/// the answer is `NotFound`; within it, `Forbidden` with the reason.
pub fn check(actor: &Actor, context: &PartnerContext, action: Action<'_>) -> HabResult<()> {
    let partner = &context.partner;
    if !can_see(actor, partner) {
        return Err(HabilitationError::NotFound(Record::Partner));
    }
    let caf = is_caf_officer(actor, partner);
    let admin = is_partner_administrator(actor, partner);
    let manager = is_delegated_manager(actor, partner);
    let delegated = context.has_mode(HabilitationMode::Delegated);
    let centralized = context.has_mode(HabilitationMode::Centralized);
    let allowed = match action {
        Action::View => true,
        Action::EditConvention
        | Action::SetQuota
        | Action::SwitchMode
        | Action::AppointAdministrators
        | Action::ForcePasswordChange
        | Action::ResetSecondFactor => caf,
        Action::ManageUsers => caf || (admin || manager) && delegated,
        Action::ManageGroups => caf && centralized || (admin || manager) && delegated,
        Action::NameDelegatedManagers => admin && delegated,
        Action::PerformReview => admin || caf && centralized && !context.has_administrator,
        Action::Grant {
            client_id,
            role,
            target,
        } => {
            let mode = context
                .convention_for(client_id)
                .map(|c| c.mode)
                .ok_or_else(|| {
                    HabilitationError::Invalid(format!(
                        "Aucune convention en vigueur n'ouvre le service « {client_id} » à ce partenaire."
                    ))
                })?;
            match mode {
                HabilitationMode::Centralized => caf,
                HabilitationMode::Delegated => {
                    caf && target == Target::Administrator
                        || admin && target != Target::Administrator
                        || manager
                            && target == Target::Other
                            && delegation_covers(&actor.delegations, client_id, role)
                }
            }
        }
        Action::Suspend {
            client_id,
            role,
            target,
        } => {
            let delegated_service = context
                .convention_for(client_id)
                .is_none_or(|c| c.mode == HabilitationMode::Delegated);
            caf || delegated_service
                && (admin && target != Target::Administrator
                    || manager
                        && target == Target::Other
                        && delegation_covers(&actor.delegations, client_id, role))
        }
        Action::SuspendAccount { target }
        | Action::CloseAccount { target }
        | Action::EditPerson { target } => {
            caf || delegated
                && (admin && target != Target::Administrator || manager && target == Target::Other)
        }
    };
    if allowed {
        return Ok(());
    }
    Err(match action {
        Action::View => unreachable!("every actor in reach may view"),
        Action::EditConvention
        | Action::SetQuota
        | Action::SwitchMode
        | Action::AppointAdministrators
        | Action::ForcePasswordChange => {
            forbidden("Seul le responsable des habilitations de la Caf peut faire cette action.")
        }
        Action::PerformReview if !admin => forbidden(
            "La revue annuelle est faite par l'administrateur principal du partenaire ou son suppléant ; la Caf ne la fait elle-même que pour un partenaire en mode centralisé qui n'en a pas.",
        ),
        Action::NameDelegatedManagers if !admin => forbidden(
            "Seuls l'administrateur principal du partenaire et son suppléant peuvent faire cette action.",
        ),
        _ if actor.holds(AdminRole::SecurityOfficer) && !caf && !admin && !manager => {
            forbidden("Le responsable sécurité consulte les habilitations sans les modifier.")
        }
        Action::Grant { target, .. }
        | Action::Suspend { target, .. }
        | Action::SuspendAccount { target }
        | Action::CloseAccount { target }
        | Action::EditPerson { target }
            if target == Target::Administrator && !caf =>
        {
            forbidden(
                "Les droits de l'administrateur principal et de son suppléant sont gérés par la Caf.",
            )
        }
        Action::Grant { .. } | Action::Suspend { .. } if manager && !admin && !caf => forbidden(
            "Ce service ou ce rôle ne fait pas partie de ce qui vous a été délégué, ou la personne est un gestionnaire.",
        ),
        Action::SuspendAccount { .. } | Action::CloseAccount { .. } | Action::EditPerson { .. }
            if manager && !admin && !caf && delegated =>
        {
            forbidden("Un gestionnaire délégué ne gère pas le compte d'un autre gestionnaire.")
        }
        _ if caf => forbidden(
            "En mode délégué, c'est le partenaire qui gère ses habilitations ; la Caf peut les suspendre à titre conservatoire.",
        ),
        _ => forbidden(
            "La gestion des habilitations de ce partenaire est centralisée à la Caf : adressez-lui votre demande.",
        ),
    })
}
