//! Every change to partners' people, groups, habilitations, quotas and modes. Each public
//! function checks `access::check` for its actor, makes the change, ends the sessions it must
//! end, and records who did what and why.

use super::access::{self, Action, Target};
use super::{Actor, HabResult, HabilitationError, PartnerContext, people_reached};
use crate::accounts::lifecycle;
use crate::state::AppState;
use crate::store::{
    Account, AccountProfile, AccountStatus, AdminRole, ChangeRecord, Convention, Delegation,
    GrantRefusal, Group, Habilitation, HabilitationMode, HabilitationScopeKind, HabilitationStatus,
    Holder, Partner, QuotaTable, Service, now,
};
use crate::types::{
    AccountId, ClientId, ConventionId, Email, GroupId, HabilitationId, InseeCode, PartnerId,
    RoleCode,
};
use serde_json::json;

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

pub async fn record(
    state: &AppState,
    author: Author<'_>,
    partner: Option<&PartnerId>,
    action: &str,
    target: String,
    reason: Option<&str>,
    detail: serde_json::Value,
) -> HabResult<()> {
    let change = ChangeRecord {
        at: now(),
        actor: author.reference(),
        partner: partner.cloned(),
        action: action.to_owned(),
        target,
        reason: reason.map(str::to_owned),
        detail,
    };
    tracing::info!(
        actor = %change.actor,
        partner = ?change.partner,
        action = %change.action,
        target = %change.target,
        "habilitation change"
    );
    state.stores.habilitations.record_change(&change).await?;
    let mut event = crate::traces::Event::new("admin.change", crate::store::Outcome::Success)
        .partner(change.partner.as_ref().map(|p| p.to_string()))
        .target(format!("{} {}", change.action, change.target));
    if let Author::Person(actor) = author {
        event = event.account(&actor.account);
    }
    state.tracer.record(event).await;
    Ok(())
}

/// A reason is required for every change that takes something away.
fn required_reason(reason: Option<&str>) -> HabResult<&str> {
    match reason.map(str::trim) {
        Some(r) if !r.is_empty() && r.len() <= 500 => Ok(r),
        Some(r) if r.len() > 500 => Err(HabilitationError::Invalid(
            "Le motif ne doit pas dépasser 500 caractères.".into(),
        )),
        _ => Err(HabilitationError::Invalid(
            "Indiquez le motif de ce changement.".into(),
        )),
    }
}

fn optional_reason(reason: Option<&str>) -> HabResult<Option<&str>> {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if r.len() > 500 => Err(HabilitationError::Invalid(
            "Le motif ne doit pas dépasser 500 caractères.".into(),
        )),
        other => Ok(other),
    }
}

/// The partners the actor may see, by name.
pub async fn visible_partners(state: &AppState, actor: &Actor) -> HabResult<Vec<Partner>> {
    let caf = if actor.holds(AdminRole::NationalOperator) {
        None
    } else if let Some(caf) = &actor.account.profile.caf {
        Some(caf.clone())
    } else {
        let Some(own) = &actor.account.profile.partner else {
            return Ok(Vec::new());
        };
        return Ok(state
            .stores
            .organisations
            .get_partner(own)
            .await?
            .filter(|p| access::can_see(actor, p))
            .into_iter()
            .collect());
    };
    Ok(state
        .stores
        .organisations
        .list_partners(caf.as_ref())
        .await?
        .into_iter()
        .filter(|p| access::can_see(actor, p))
        .collect())
}

/// A partner the actor may see, with its conventions.
pub async fn partner(state: &AppState, actor: &Actor, id: &PartnerId) -> HabResult<PartnerContext> {
    let context = PartnerContext::load(state, id).await?;
    access::check(actor, &context, Action::View)?;
    Ok(context)
}

/// A person of a partner the actor may see.
pub async fn person(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
) -> HabResult<(Account, PartnerContext)> {
    let account = state.stores.accounts.get_account(id).await?;
    super::in_reach(state, actor, "compte", account, |a| {
        a.profile.partner.clone()
    })
    .await
}

/// What a person's profile holds, as the console and the API receive it.
#[derive(Debug, Clone)]
pub struct PersonFields {
    pub email: Email,
    pub civility: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub function: Option<String>,
}

impl PersonFields {
    pub fn parse(
        email: &str,
        civility: Option<&str>,
        given_name: &str,
        family_name: &str,
        function: Option<&str>,
    ) -> HabResult<Self> {
        let email = Email::parse(email).map_err(|_| {
            HabilitationError::Invalid(format!("« {email} » n'est pas une adresse électronique."))
        })?;
        let text = |what: &str, value: &str, required: bool| -> HabResult<Option<String>> {
            let value = value.trim();
            if value.is_empty() {
                return if required {
                    Err(HabilitationError::Invalid(format!("Indiquez {what}.")))
                } else {
                    Ok(None)
                };
            }
            if value.chars().count() > 100 || value.chars().any(char::is_control) {
                return Err(HabilitationError::Invalid(format!(
                    "{what} : 100 caractères au plus, sans caractère de contrôle."
                )));
            }
            Ok(Some(value.to_owned()))
        };
        Ok(Self {
            email,
            civility: text("la civilité", civility.unwrap_or(""), false)?,
            given_name: text("le prénom", given_name, true)?.unwrap_or_default(),
            family_name: text("le nom", family_name, true)?.unwrap_or_default(),
            function: text("la fonction", function.unwrap_or(""), false)?,
        })
    }
}

/// Creates a person of the partner and mails the activation link (or, for a service whose
/// onboarding is a temporary password, that password) naming `services`.
pub async fn create_person(
    state: &AppState,
    actor: &Actor,
    partner_id: &PartnerId,
    fields: PersonFields,
    services: Vec<ClientId>,
) -> HabResult<Account> {
    let context = PartnerContext::load(state, partner_id).await?;
    access::check(actor, &context, Action::ManageUsers)?;
    create_person_as(state, Author::Person(actor), &context, fields, services).await
}

pub(super) async fn create_person_as(
    state: &AppState,
    author: Author<'_>,
    context: &PartnerContext,
    fields: PersonFields,
    services: Vec<ClientId>,
) -> HabResult<Account> {
    if let Some(existing) = state
        .stores
        .accounts
        .find_account_by_email(&fields.email)
        .await?
    {
        // Said plainly when the account is the partner's own (the administrator sees it);
        // an account elsewhere is not revealed, and the Caf is told instead.
        if existing.profile.partner.as_ref() == Some(&context.partner.id) {
            return Err(HabilitationError::Conflict(format!(
                "{} a déjà un compte chez ce partenaire.",
                fields.email
            )));
        }
        report_unavailable_email(state, &author, context, &existing).await?;
        return Err(HabilitationError::Conflict(unavailable_email_message(
            &fields.email,
        )));
    }
    let profile = AccountProfile {
        email: fields.email,
        civility: fields.civility,
        given_name: fields.given_name,
        family_name: fields.family_name,
        function: fields.function,
        partner: Some(context.partner.id.clone()),
        caf: None,
        services,
        admin_roles: Vec::new(),
    };
    let account = lifecycle::create_account(state, profile).await?;
    record(
        state,
        author,
        Some(&context.partner.id),
        "account.create",
        format!("account:{}", account.id),
        None,
        json!({}),
    )
    .await?;
    Ok(account)
}

/// What an administrator reads when an address belongs to an account outside their partner:
/// it says neither that an account exists nor where.
pub fn unavailable_email_message(email: &Email) -> String {
    format!(
        "L'adresse {email} ne peut pas être retenue pour un nouveau compte de ce partenaire. La Caf en est informée et reviendra vers vous ; en attendant, vérifiez l'adresse auprès de la personne."
    )
}

/// Tells the habilitation officers of the partner's Caf that someone tried to create an
/// account for an address already used elsewhere (naming where), and traces the attempt.
pub(super) async fn report_unavailable_email(
    state: &AppState,
    author: &Author<'_>,
    context: &PartnerContext,
    existing: &Account,
) -> HabResult<()> {
    let stores = &state.stores;
    let holder = match &existing.profile.partner {
        Some(p) => stores.organisations.get_partner(p).await?.map(|p| p.name),
        None => None,
    };
    let holder_caf = match existing
        .profile
        .caf
        .clone()
        .or(match &existing.profile.partner {
            Some(p) => stores.organisations.get_partner(p).await?.map(|p| p.caf),
            None => None,
        }) {
        Some(code) => stores.organisations.get_caf(&code).await?.map(|c| c.name),
        None => None,
    };
    let where_ = match (holder, holder_caf) {
        (Some(p), Some(c)) => format!("le compte d'une personne du partenaire « {p} » ({c})"),
        (None, Some(c)) => format!("le compte d'un agent de la {c}"),
        _ => "un autre compte".to_owned(),
    };
    let who = match author {
        Author::Person(actor) => format!(
            "{} {} ({})",
            actor.account.profile.given_name,
            actor.account.profile.family_name,
            actor.account.profile.email
        ),
        Author::System(name) => format!("l'outil « {name} »"),
    };
    let mut event = crate::traces::Event::new("admin.change", crate::store::Outcome::Failure)
        .partner(Some(context.partner.id.to_string()))
        .target(format!("account.create account:{}", existing.id))
        .reason("email_in_use_elsewhere");
    if let Author::Person(actor) = author {
        event = event.account(&actor.account);
    }
    state.tracer.record(event).await;
    let officers: Vec<Account> = stores
        .accounts
        .staff_of_caf(&context.partner.caf)
        .await?
        .into_iter()
        .filter(|a| {
            a.profile
                .admin_roles
                .contains(&AdminRole::CafHabilitationOfficer)
        })
        .collect();
    if officers.is_empty() {
        tracing::warn!(partner = %context.partner.id, "no Caf habilitation officer to tell of an address used elsewhere");
    }
    for officer in officers {
        let mail = crate::mail::templates::email_in_use(
            officer.profile.email.as_str(),
            &officer.profile.given_name,
            &who,
            &context.partner.name,
            existing.profile.email.as_str(),
            &where_,
        );
        if let Err(e) = state.mailer.send(mail).await {
            tracing::error!(error = %e, "Caf not told of an address used elsewhere");
        }
    }
    Ok(())
}

/// Corrects a person's profile (the email is the identifier and does not change here).
pub async fn update_person(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    fields: PersonFields,
) -> HabResult<Account> {
    let (account, context) = person(state, actor, id).await?;
    access::check(
        actor,
        &context,
        Action::EditPerson {
            target: Target::of(&account),
        },
    )?;
    check_within_delegation(state, actor, &context, &account).await?;
    if fields.email != account.profile.email {
        return Err(HabilitationError::Invalid(
            "L'adresse électronique est l'identifiant du compte : créez un nouveau compte pour une nouvelle adresse.".into(),
        ));
    }
    let profile = AccountProfile {
        civility: fields.civility,
        given_name: fields.given_name,
        family_name: fields.family_name,
        function: fields.function,
        ..account.profile.clone()
    };
    state.stores.accounts.upsert_account(&profile).await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "account.update",
        format!("account:{id}"),
        None,
        json!({}),
    )
    .await?;
    Ok(state
        .stores
        .accounts
        .get_account(id)
        .await?
        .unwrap_or(account))
}

/// What a grant asks for.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub holder: Holder,
    pub client_id: ClientId,
    pub role: RoleCode,
    pub scope: Vec<String>,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
}

/// Grants a service role to a person or a group of the partner, within the quota.
pub async fn grant(
    state: &AppState,
    actor: &Actor,
    partner_id: &PartnerId,
    request: GrantRequest,
    reason: Option<&str>,
) -> HabResult<Habilitation> {
    let context = PartnerContext::load(state, partner_id).await?;
    access::check(actor, &context, Action::View)?;
    let target = holder_target(state, &context, &request.holder).await?;
    access::check(
        actor,
        &context,
        Action::Grant {
            client_id: &request.client_id,
            role: &request.role,
            target,
        },
    )?;
    let reason = optional_reason(reason)?;
    grant_as(state, Author::Person(actor), &context, request, reason).await
}

/// What the holder of a (future) habilitation is, for the access rules; the holder must be
/// a person or an open group of the partner.
async fn holder_target(
    state: &AppState,
    context: &PartnerContext,
    holder: &Holder,
) -> HabResult<Target> {
    match holder {
        Holder::Account(id) => {
            let account = state
                .stores
                .accounts
                .get_account(id)
                .await?
                .filter(|a| a.profile.partner.as_ref() == Some(&context.partner.id))
                .ok_or(HabilitationError::NotFound("compte"))?;
            if account.closed_at.is_some() {
                return Err(HabilitationError::Invalid(
                    "Ce compte est fermé : il ne peut plus recevoir d'habilitation.".into(),
                ));
            }
            Ok(Target::of(&account))
        }
        Holder::Group(id) => {
            let group = state
                .stores
                .habilitations
                .get_group(id)
                .await?
                .filter(|g| g.partner == context.partner.id)
                .ok_or(HabilitationError::NotFound("groupe"))?;
            if group.closed_at.is_some() {
                return Err(HabilitationError::Invalid("Ce groupe est fermé.".into()));
            }
            Ok(Target::Other)
        }
    }
}

async fn service(state: &AppState, client_id: &ClientId) -> HabResult<Service> {
    state
        .stores
        .services
        .get_service(client_id)
        .await?
        .ok_or(HabilitationError::NotFound("service"))
}

/// Fails unless `role` is one of the service's roles.
pub fn check_role(service: &Service, role: &RoleCode) -> HabResult<()> {
    if service.roles.iter().any(|r| r.code == role.as_str()) {
        return Ok(());
    }
    Err(HabilitationError::Invalid(format!(
        "Le service « {} » n'a pas de rôle « {role} » (rôles : {}).",
        service.name,
        service
            .roles
            .iter()
            .map(|r| r.code.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Checks the role and scope against the service: the role must be one of the service's, and
/// the scope must list values of the service's kind (at least one), or be empty.
pub fn validate_role_and_scope(
    service: &Service,
    role: &RoleCode,
    scope: &[String],
) -> HabResult<Vec<String>> {
    check_role(service, role)?;
    match service.habilitation_scope {
        None if scope.is_empty() => Ok(Vec::new()),
        None => Err(HabilitationError::Invalid(format!(
            "Les habilitations du service « {} » n'ont pas de périmètre.",
            service.name
        ))),
        Some(HabilitationScopeKind::InseeCommunes) => {
            if scope.is_empty() {
                return Err(HabilitationError::Invalid(format!(
                    "Indiquez les communes couvertes (codes INSEE) pour le service « {} ».",
                    service.name
                )));
            }
            let mut codes = scope
                .iter()
                .map(|c| {
                    InseeCode::parse(c).map(|c| c.to_string()).map_err(|_| {
                        HabilitationError::Invalid(format!(
                            "« {c} » n'est pas un code INSEE de commune (cinq caractères, par exemple 79191)."
                        ))
                    })
                })
                .collect::<HabResult<Vec<_>>>()?;
            codes.sort();
            codes.dedup();
            Ok(codes)
        }
    }
}

/// The grant itself, once the author is known to be allowed.
pub async fn grant_as(
    state: &AppState,
    author: Author<'_>,
    context: &PartnerContext,
    request: GrantRequest,
    reason: Option<&str>,
) -> HabResult<Habilitation> {
    let service = service(state, &request.client_id).await?;
    let scope = validate_role_and_scope(&service, &request.role, &request.scope)?;
    let convention = context.convention_for(&request.client_id).ok_or_else(|| {
        HabilitationError::Invalid(format!(
            "Aucune convention en vigueur n'ouvre le service « {} » à ce partenaire.",
            service.name
        ))
    })?;
    let now = now();
    let valid_from = request.valid_from.unwrap_or(now);
    if let Some(until) = request.valid_until
        && until <= valid_from
    {
        return Err(HabilitationError::Invalid(
            "La fin de validité doit suivre son début.".into(),
        ));
    }
    let habilitation = Habilitation {
        id: HabilitationId::generate(),
        partner: context.partner.id.clone(),
        convention: convention.id.clone(),
        client_id: request.client_id,
        role: request.role,
        scope,
        holder: request.holder,
        valid_from,
        valid_until: request.valid_until,
        status: HabilitationStatus::Active,
        granted_by: author.reference(),
        granted_at: now,
        status_changed_at: now,
        status_changed_by: author.reference(),
        status_reason: reason.map(str::to_owned),
        closed_at: None,
        reviewed_at: None,
    };
    let quotas = context.quotas(state).await?;
    match state
        .stores
        .habilitations
        .insert_habilitation(&habilitation, &quotas)
        .await?
    {
        Ok(()) => {}
        Err(refusal) => return Err(refusal_error(&service, refusal)),
    }
    record(
        state,
        author,
        Some(&context.partner.id),
        "habilitation.grant",
        format!("habilitation:{}", habilitation.id),
        reason,
        json!({
            "holder": habilitation.holder,
            "service": habilitation.client_id,
            "role": habilitation.role,
            "scope": habilitation.scope,
        }),
    )
    .await?;
    Ok(habilitation)
}

fn refusal_error(service: &Service, refusal: GrantRefusal) -> HabilitationError {
    match refusal {
        GrantRefusal::QuotaReached { role, maximum, .. } => HabilitationError::QuotaReached {
            service: service.name.clone(),
            role: role.to_string(),
            maximum,
        },
        GrantRefusal::AlreadyHeld => HabilitationError::Conflict(format!(
            "Cette habilitation au service « {} » est déjà attribuée (active ou suspendue).",
            service.name
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Suspend,
    Reactivate,
    /// Withdraw for good.
    Close,
}

impl StatusChange {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "suspend" => Some(Self::Suspend),
            "reactivate" => Some(Self::Reactivate),
            "close" => Some(Self::Close),
            _ => None,
        }
    }
}

/// Looks a habilitation up for an actor; one of another partner is "not found".
pub async fn habilitation(
    state: &AppState,
    actor: &Actor,
    id: &HabilitationId,
) -> HabResult<(Habilitation, PartnerContext)> {
    let habilitation = state.stores.habilitations.get_habilitation(id).await?;
    super::in_reach(state, actor, "habilitation", habilitation, |h| {
        Some(h.partner.clone())
    })
    .await
}

/// Suspends, reactivates or closes a habilitation. Suspending or closing ends the sessions of
/// the people it reached (and tells their relying applications).
pub async fn change_status(
    state: &AppState,
    actor: &Actor,
    id: &HabilitationId,
    change: StatusChange,
    reason: Option<&str>,
) -> HabResult<Habilitation> {
    let (habilitation, context) = self::habilitation(state, actor, id).await?;
    let target = match &habilitation.holder {
        Holder::Account(a) => match state.stores.accounts.get_account(a).await? {
            Some(account) => Target::of(&account),
            None => Target::Other,
        },
        Holder::Group(_) => Target::Other,
    };
    let (client_id, role) = (&habilitation.client_id, &habilitation.role);
    let action = match change {
        StatusChange::Close => Action::Grant {
            client_id,
            role,
            target,
        },
        StatusChange::Suspend | StatusChange::Reactivate => Action::Suspend {
            client_id,
            role,
            target,
        },
    };
    access::check(actor, &context, action)?;
    let reason = required_reason(reason)?;
    change_status_as(state, Author::Person(actor), habilitation, change, reason).await
}

pub(super) async fn change_status_as(
    state: &AppState,
    author: Author<'_>,
    habilitation: Habilitation,
    change: StatusChange,
    reason: &str,
) -> HabResult<Habilitation> {
    let status = match (change, habilitation.status) {
        (_, HabilitationStatus::Closed) => {
            return Err(HabilitationError::Conflict(
                "Cette habilitation est fermée : attribuez-en une nouvelle si besoin.".into(),
            ));
        }
        (StatusChange::Suspend, HabilitationStatus::Suspended)
        | (StatusChange::Reactivate, HabilitationStatus::Active) => return Ok(habilitation),
        (StatusChange::Suspend, _) => HabilitationStatus::Suspended,
        (StatusChange::Reactivate, _) => HabilitationStatus::Active,
        (StatusChange::Close, _) => HabilitationStatus::Closed,
    };
    let at = now();
    let by = author.reference();
    if !state
        .stores
        .habilitations
        .set_habilitation_status(&habilitation.id, status, &by, Some(reason), at)
        .await?
    {
        return Err(HabilitationError::Conflict(
            "Cette habilitation vient d'être fermée.".into(),
        ));
    }
    record(
        state,
        author,
        Some(&habilitation.partner),
        match change {
            StatusChange::Suspend => "habilitation.suspend",
            StatusChange::Reactivate => "habilitation.reactivate",
            StatusChange::Close => "habilitation.close",
        },
        format!("habilitation:{}", habilitation.id),
        Some(reason),
        json!({ "service": habilitation.client_id, "role": habilitation.role }),
    )
    .await?;
    if status != HabilitationStatus::Active {
        for person in people_reached(state, &habilitation).await? {
            end_sessions(state, &person).await?;
        }
    }
    Ok(Habilitation {
        status,
        status_changed_at: at,
        status_changed_by: by,
        status_reason: Some(reason.to_owned()),
        closed_at: (status == HabilitationStatus::Closed).then_some(at),
        ..habilitation
    })
}

/// Ends every session of a person and revokes their tokens; relying applications registered
/// for back-channel logout are told.
pub async fn end_sessions(state: &AppState, id: &AccountId) -> HabResult<()> {
    if let Some(account) = state.stores.accounts.get_account(id).await? {
        lifecycle::revoke_everything(state, &account).await?;
    }
    Ok(())
}

/// A delegated manager acts on a whole account only when every open habilitation the person
/// holds directly lies within the manager's delegation; administrators and the Caf are not
/// limited this way.
async fn check_within_delegation(
    state: &AppState,
    actor: &Actor,
    context: &PartnerContext,
    account: &Account,
) -> HabResult<()> {
    for h in state
        .stores
        .habilitations
        .habilitations_of_account(&account.id)
        .await?
        .iter()
        .filter(|h| {
            h.status != HabilitationStatus::Closed
                && h.holder == Holder::Account(account.id.clone())
        })
    {
        access::check(
            actor,
            context,
            Action::Suspend {
                client_id: &h.client_id,
                role: &h.role,
                target: Target::of(account),
            },
        )?;
    }
    Ok(())
}

/// Suspends a person's account as a precaution, or reactivates it.
pub async fn suspend_person(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    suspended: bool,
    reason: Option<&str>,
) -> HabResult<Account> {
    let (account, context) = person(state, actor, id).await?;
    access::check(
        actor,
        &context,
        Action::SuspendAccount {
            target: Target::of(&account),
        },
    )?;
    check_within_delegation(state, actor, &context, &account).await?;
    let reason = required_reason(reason)?;
    if account.closed_at.is_some() {
        return Err(HabilitationError::Conflict("Ce compte est fermé.".into()));
    }
    lifecycle::set_suspended(state, &account, suspended, Some(reason)).await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        if suspended {
            "account.suspend"
        } else {
            "account.reactivate"
        },
        format!("account:{id}"),
        Some(reason),
        json!({}),
    )
    .await?;
    Ok(state
        .stores
        .accounts
        .get_account(id)
        .await?
        .unwrap_or(account))
}

/// Closes a person's access on departure: every habilitation they hold directly is closed,
/// they leave their groups, and the account is closed (kept until retention removes it).
pub async fn close_person(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    reason: Option<&str>,
) -> HabResult<()> {
    let (account, context) = person(state, actor, id).await?;
    access::check(
        actor,
        &context,
        Action::CloseAccount {
            target: Target::of(&account),
        },
    )?;
    check_within_delegation(state, actor, &context, &account).await?;
    let reason = required_reason(reason)?;
    close_person_as(state, Author::Person(actor), &account, reason).await
}

pub(super) async fn close_person_as(
    state: &AppState,
    author: Author<'_>,
    account: &Account,
    reason: &str,
) -> HabResult<()> {
    if account.closed_at.is_some() {
        return Ok(());
    }
    let store = &state.stores.habilitations;
    for h in store.habilitations_of_account(&account.id).await? {
        if h.holder == Holder::Account(account.id.clone()) && h.status != HabilitationStatus::Closed
        {
            store
                .set_habilitation_status(
                    &h.id,
                    HabilitationStatus::Closed,
                    &author.reference(),
                    Some(reason),
                    now(),
                )
                .await?;
        }
    }
    for group in store.groups_of_account(&account.id).await? {
        store.remove_group_member(&group.id, &account.id).await?;
    }
    store
        .set_delegations(&account.id, &[], &author.reference(), now())
        .await?;
    state
        .stores
        .accounts
        .close_account(&account.id, now(), Some(reason))
        .await?;
    lifecycle::revoke_everything(state, account).await?;
    record(
        state,
        author,
        account.profile.partner.as_ref(),
        "account.close",
        format!("account:{}", account.id),
        Some(reason),
        json!({}),
    )
    .await
}

/// Caf-side: the person must choose a new password before any relying application gets a
/// code again.
pub async fn force_password_change(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    reason: Option<&str>,
) -> HabResult<()> {
    let (account, context) = person(state, actor, id).await?;
    access::check(actor, &context, Action::ForcePasswordChange)?;
    let reason = required_reason(reason)?;
    lifecycle::force_password_change(state, &account).await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "account.force_password_change",
        format!("account:{id}"),
        Some(reason),
        json!({}),
    )
    .await
}

/// The two appointments only the Caf makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appointment {
    Principal,
    Substitute,
}

impl Appointment {
    pub fn role(self) -> AdminRole {
        match self {
            Appointment::Principal => AdminRole::PartnerAdministrator,
            Appointment::Substitute => AdminRole::PartnerSubstitute,
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "principal" => Some(Self::Principal),
            "substitute" => Some(Self::Substitute),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Appointment::Principal => "administrateur principal",
            Appointment::Substitute => "administrateur suppléant",
        }
    }
}

/// Appoints (or removes) the partner's principal administrator or substitute: one of each
/// per partner, appointed by the Caf.
pub async fn appoint(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    appointment: Appointment,
    appointed: bool,
    reason: Option<&str>,
) -> HabResult<Account> {
    let (account, context) = person(state, actor, id).await?;
    access::check(actor, &context, Action::AppointAdministrators)?;
    let reason = optional_reason(reason)?;
    appoint_as(
        state,
        Author::Person(actor),
        &context,
        account,
        appointment,
        appointed,
        reason,
    )
    .await
}

pub(super) async fn appoint_as(
    state: &AppState,
    author: Author<'_>,
    context: &PartnerContext,
    account: Account,
    appointment: Appointment,
    appointed: bool,
    reason: Option<&str>,
) -> HabResult<Account> {
    let role = appointment.role();
    if appointed {
        if account.closed_at.is_some() {
            return Err(HabilitationError::Invalid("Ce compte est fermé.".into()));
        }
        let holders = state
            .stores
            .accounts
            .accounts_of_partner(&context.partner.id)
            .await?;
        if let Some(current) = holders.iter().find(|a| {
            a.id != account.id && a.closed_at.is_none() && a.profile.admin_roles.contains(&role)
        }) {
            return Err(HabilitationError::Conflict(format!(
                "{} {} est déjà {} de ce partenaire : retirez-lui d'abord ce rôle.",
                current.profile.given_name,
                current.profile.family_name,
                appointment.label()
            )));
        }
    }
    let mut roles = account.profile.admin_roles.clone();
    roles.retain(|r| *r != role);
    if appointed {
        roles.push(role);
        // An administrator is no longer a delegated manager: the wider role includes it.
        roles.retain(|r| *r != AdminRole::DelegatedManager);
    }
    roles.sort();
    let profile = AccountProfile {
        admin_roles: roles,
        ..account.profile.clone()
    };
    state.stores.accounts.upsert_account(&profile).await?;
    record(
        state,
        author,
        Some(&context.partner.id),
        if appointed {
            "administrators.appoint"
        } else {
            "administrators.remove"
        },
        format!("account:{}", account.id),
        reason,
        json!({ "role": role }),
    )
    .await?;
    // A change of rights takes effect at the next login.
    lifecycle::revoke_everything(state, &account).await?;
    Ok(state
        .stores
        .accounts
        .get_account(&account.id)
        .await?
        .unwrap_or(account))
}

/// Names a delegated manager with what they may manage, or (with no delegation) removes the
/// role.
pub async fn name_delegated_manager(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    delegations: Vec<Delegation>,
    reason: Option<&str>,
) -> HabResult<Account> {
    let (account, context) = person(state, actor, id).await?;
    access::check(actor, &context, Action::NameDelegatedManagers)?;
    let reason = optional_reason(reason)?;
    if Target::of(&account) == Target::Administrator {
        return Err(HabilitationError::Invalid(
            "Un administrateur du partenaire gère déjà tout : il n'a pas besoin de délégation."
                .into(),
        ));
    }
    if account.closed_at.is_some() {
        return Err(HabilitationError::Invalid("Ce compte est fermé.".into()));
    }
    for d in &delegations {
        let service = service(state, &d.client_id).await?;
        if context.convention_for(&d.client_id).is_none() {
            return Err(HabilitationError::Invalid(format!(
                "Aucune convention en vigueur n'ouvre le service « {} » à ce partenaire.",
                service.name
            )));
        }
        if let Some(role) = &d.role
            && !service.roles.iter().any(|r| r.code == role.as_str())
        {
            return Err(HabilitationError::Invalid(format!(
                "Le service « {} » n'a pas de rôle « {role} ».",
                service.name
            )));
        }
    }
    let mut roles = account.profile.admin_roles.clone();
    roles.retain(|r| *r != AdminRole::DelegatedManager);
    if !delegations.is_empty() {
        roles.push(AdminRole::DelegatedManager);
    }
    roles.sort();
    let profile = AccountProfile {
        admin_roles: roles,
        ..account.profile.clone()
    };
    state.stores.accounts.upsert_account(&profile).await?;
    state
        .stores
        .habilitations
        .set_delegations(&account.id, &delegations, &actor.reference(), now())
        .await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "delegated_manager.name",
        format!("account:{id}"),
        reason,
        json!({ "delegations": delegations }),
    )
    .await?;
    lifecycle::revoke_everything(state, &account).await?;
    Ok(state
        .stores
        .accounts
        .get_account(id)
        .await?
        .unwrap_or(account))
}

/// Looks a group up for an actor; one of another partner is "not found".
pub async fn group(
    state: &AppState,
    actor: &Actor,
    id: &GroupId,
) -> HabResult<(Group, PartnerContext)> {
    let group = state.stores.habilitations.get_group(id).await?;
    super::in_reach(state, actor, "groupe", group, |g| Some(g.partner.clone())).await
}

fn group_name(name: &str) -> HabResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(HabilitationError::Invalid(
            "Le nom du groupe doit compter de 1 à 100 caractères.".into(),
        ));
    }
    Ok(name.to_owned())
}

pub async fn create_group(
    state: &AppState,
    actor: &Actor,
    partner_id: &PartnerId,
    name: &str,
) -> HabResult<Group> {
    let context = PartnerContext::load(state, partner_id).await?;
    access::check(actor, &context, Action::ManageGroups)?;
    let group = Group {
        id: GroupId::generate(),
        partner: partner_id.clone(),
        name: group_name(name)?,
        created_at: now(),
        closed_at: None,
    };
    state
        .stores
        .habilitations
        .insert_group(&group)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => HabilitationError::Conflict(format!(
                "Un groupe « {} » existe déjà chez ce partenaire.",
                group.name
            )),
            other => other.into(),
        })?;
    record(
        state,
        Author::Person(actor),
        Some(partner_id),
        "group.create",
        format!("group:{}", group.id),
        None,
        json!({}),
    )
    .await?;
    Ok(group)
}

/// A delegated manager may only change a group whose habilitations are all delegated to them;
/// `member` is who joins or leaves (what they gain or lose is checked as a grant to them).
async fn check_group_change(
    state: &AppState,
    actor: &Actor,
    context: &PartnerContext,
    group: &Group,
    member: Target,
) -> HabResult<()> {
    access::check(actor, context, Action::ManageGroups)?;
    if group.closed_at.is_some() {
        return Err(HabilitationError::Conflict("Ce groupe est fermé.".into()));
    }
    for h in state
        .stores
        .habilitations
        .habilitations_of_group(&group.id)
        .await?
        .iter()
        .filter(|h| h.status != HabilitationStatus::Closed)
    {
        access::check(
            actor,
            context,
            Action::Grant {
                client_id: &h.client_id,
                role: &h.role,
                target: member,
            },
        )?;
    }
    Ok(())
}

pub async fn add_member(
    state: &AppState,
    actor: &Actor,
    group_id: &GroupId,
    account_id: &AccountId,
) -> HabResult<()> {
    let (group, context) = group(state, actor, group_id).await?;
    let member = holder_target(state, &context, &Holder::Account(account_id.clone())).await?;
    check_group_change(state, actor, &context, &group, member).await?;
    let quotas: QuotaTable = context.quotas(state).await?;
    if let Err(refusal) = state
        .stores
        .habilitations
        .add_group_member(group_id, account_id, &quotas, now())
        .await?
    {
        let service = match &refusal {
            GrantRefusal::QuotaReached { client_id, .. } => service(state, client_id).await?,
            GrantRefusal::AlreadyHeld => unreachable!("membership has no holder rule"),
        };
        return Err(refusal_error(&service, refusal));
    }
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "group.add_member",
        format!("group:{group_id}"),
        None,
        json!({ "account": account_id }),
    )
    .await
}

/// Removes a member; their sessions end since they may have lost a role.
pub async fn remove_member(
    state: &AppState,
    actor: &Actor,
    group_id: &GroupId,
    account_id: &AccountId,
    reason: Option<&str>,
) -> HabResult<()> {
    let (group, context) = group(state, actor, group_id).await?;
    // Only the partner's own people: another partner's account is "not found", and its
    // sessions are none of this actor's business.
    let member = state
        .stores
        .accounts
        .get_account(account_id)
        .await?
        .filter(|a| a.profile.partner.as_ref() == Some(&context.partner.id))
        .ok_or(HabilitationError::NotFound("compte"))?;
    check_group_change(state, actor, &context, &group, Target::of(&member)).await?;
    let reason = optional_reason(reason)?;
    state
        .stores
        .habilitations
        .remove_group_member(group_id, account_id)
        .await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "group.remove_member",
        format!("group:{group_id}"),
        reason,
        json!({ "account": account_id }),
    )
    .await?;
    end_sessions(state, account_id).await
}

/// Closes a group: its habilitations are closed and its members' sessions end.
pub async fn close_group(
    state: &AppState,
    actor: &Actor,
    group_id: &GroupId,
    reason: Option<&str>,
) -> HabResult<()> {
    let (group, context) = group(state, actor, group_id).await?;
    check_group_change(state, actor, &context, &group, Target::Other).await?;
    let reason = required_reason(reason)?;
    let members = state.stores.habilitations.group_members(group_id).await?;
    for h in state
        .stores
        .habilitations
        .habilitations_of_group(group_id)
        .await?
    {
        if h.status != HabilitationStatus::Closed {
            state
                .stores
                .habilitations
                .set_habilitation_status(
                    &h.id,
                    HabilitationStatus::Closed,
                    &actor.reference(),
                    Some(reason),
                    now(),
                )
                .await?;
        }
    }
    state
        .stores
        .habilitations
        .close_group(group_id, now())
        .await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "group.close",
        format!("group:{group_id}"),
        Some(reason),
        json!({}),
    )
    .await?;
    for member in members {
        end_sessions(state, &member).await?;
    }
    Ok(())
}

/// A convention the actor may see.
pub async fn convention(
    state: &AppState,
    actor: &Actor,
    id: &ConventionId,
) -> HabResult<(Convention, PartnerContext)> {
    let convention = state.stores.habilitations.get_convention(id).await?;
    super::in_reach(state, actor, "convention", convention, |c| {
        Some(c.partner.clone())
    })
    .await
}

/// Sets or removes (`None`) the quota of a service role under a convention.
pub async fn set_quota(
    state: &AppState,
    actor: &Actor,
    convention_id: &ConventionId,
    client_id: &ClientId,
    role: &RoleCode,
    maximum: Option<u32>,
    reason: Option<&str>,
) -> HabResult<()> {
    let (convention, context) = convention(state, actor, convention_id).await?;
    access::check(actor, &context, Action::SetQuota)?;
    let reason = optional_reason(reason)?;
    if !convention.services.contains(client_id) {
        return Err(HabilitationError::Invalid(format!(
            "La convention {} n'ouvre pas le service « {client_id} ».",
            convention.number
        )));
    }
    let service = service(state, client_id).await?;
    check_role(&service, role)?;
    state
        .stores
        .habilitations
        .set_quota(convention_id, client_id, role, maximum)
        .await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "quota.set",
        format!("convention:{convention_id}"),
        reason,
        json!({ "service": client_id, "role": role, "maximum": maximum }),
    )
    .await
}

/// Whether the actor is a national operator or the habilitation officer of `caf`.
fn caf_officer_of(actor: &Actor, caf: &crate::types::CafCode) -> bool {
    actor.holds(AdminRole::NationalOperator)
        || actor.holds(AdminRole::CafHabilitationOfficer)
            && actor.account.profile.caf.as_ref() == Some(caf)
}

/// Caf side: registers a new partner of the actor's Caf.
pub async fn create_partner(
    state: &AppState,
    actor: &Actor,
    partner: Partner,
) -> HabResult<Partner> {
    if !caf_officer_of(actor, &partner.caf) {
        return Err(HabilitationError::Forbidden(
            "Seul le responsable des habilitations de la Caf enregistre ses partenaires.".into(),
        ));
    }
    if partner.name.trim().is_empty() || partner.name.chars().count() > 200 {
        return Err(HabilitationError::Invalid(
            "Le nom du partenaire compte de 1 à 200 caractères.".into(),
        ));
    }
    if state
        .stores
        .organisations
        .get_caf(&partner.caf)
        .await?
        .is_none()
    {
        return Err(HabilitationError::NotFound("Caf"));
    }
    if state
        .stores
        .organisations
        .get_partner(&partner.id)
        .await?
        .is_some()
    {
        return Err(HabilitationError::Conflict(format!(
            "L'identifiant « {} » est déjà pris.",
            partner.id
        )));
    }
    state.stores.organisations.upsert_partner(&partner).await?;
    record(
        state,
        Author::Person(actor),
        Some(&partner.id),
        "partner.create",
        format!("partner:{}", partner.id),
        None,
        json!({}),
    )
    .await?;
    Ok(partner)
}

/// Caf side: records a convention of a partner, or corrects one (number, services, dates,
/// contacts; its termination). The mode changes through `switch_mode`, which needs a reason.
pub async fn save_convention(
    state: &AppState,
    actor: &Actor,
    convention: Convention,
) -> HabResult<Convention> {
    let context = PartnerContext::load(state, &convention.partner).await?;
    access::check(actor, &context, Action::EditConvention)?;
    let number = convention.number.trim().to_owned();
    if number.is_empty() || number.chars().count() > 64 {
        return Err(HabilitationError::Invalid(
            "Le numéro de convention compte de 1 à 64 caractères.".into(),
        ));
    }
    if convention.services.is_empty() {
        return Err(HabilitationError::Invalid(
            "Une convention ouvre au moins un service.".into(),
        ));
    }
    for client_id in &convention.services {
        service(state, client_id).await?;
    }
    if let Some(end) = convention.terminated_on
        && end <= convention.starts_on
    {
        return Err(HabilitationError::Invalid(
            "La date de résiliation doit suivre la date de début.".into(),
        ));
    }
    if let Some(other) = state
        .stores
        .habilitations
        .find_convention_by_number(&number)
        .await?
        && other.id != convention.id
    {
        return Err(HabilitationError::Conflict(format!(
            "Le numéro {number} est déjà celui d'une autre convention."
        )));
    }
    let existing = state
        .stores
        .habilitations
        .get_convention(&convention.id)
        .await?;
    if let Some(existing) = &existing
        && existing.partner != convention.partner
    {
        return Err(HabilitationError::NotFound("convention"));
    }
    let convention = Convention {
        number,
        caf: context.partner.caf.clone(),
        mode: existing.as_ref().map(|e| e.mode).unwrap_or(convention.mode),
        ..convention
    };
    state
        .stores
        .habilitations
        .upsert_convention(&convention)
        .await?;
    record(
        state,
        Author::Person(actor),
        Some(&convention.partner),
        if existing.is_some() {
            "convention.edit"
        } else {
            "convention.create"
        },
        format!("convention:{}", convention.id),
        None,
        json!({
            "number": convention.number,
            "services": convention.services,
            "terminated_on": convention.terminated_on,
        }),
    )
    .await?;
    Ok(convention)
}

/// Withdraws the delegation (centralized mode) or restores it (delegated mode).
pub async fn switch_mode(
    state: &AppState,
    actor: &Actor,
    convention_id: &ConventionId,
    mode: HabilitationMode,
    reason: Option<&str>,
) -> HabResult<Convention> {
    let (convention, context) = convention(state, actor, convention_id).await?;
    access::check(actor, &context, Action::SwitchMode)?;
    let reason = required_reason(reason)?;
    if convention.mode == mode {
        return Ok(convention);
    }
    let updated = Convention { mode, ..convention };
    state
        .stores
        .habilitations
        .upsert_convention(&updated)
        .await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "convention.mode",
        format!("convention:{convention_id}"),
        Some(reason),
        json!({ "mode": mode }),
    )
    .await?;
    Ok(updated)
}

/// One line of the quota table a console or API shows: how many people hold the role, and
/// the most allowed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuotaUse {
    pub convention: ConventionId,
    pub client_id: ClientId,
    pub role: RoleCode,
    pub used: u32,
    pub maximum: Option<u32>,
}

impl QuotaUse {
    pub fn remaining(&self) -> Option<u32> {
        self.maximum.map(|m| m.saturating_sub(self.used))
    }
}

/// For every role of every service the partner's conventions in force open: use and quota.
pub async fn quota_uses(state: &AppState, context: &PartnerContext) -> HabResult<Vec<QuotaUse>> {
    let quotas = context.quotas(state).await?;
    let mut uses = Vec::new();
    for convention in context.in_force() {
        for client_id in &convention.services {
            let Some(service) = state.stores.services.get_service(client_id).await? else {
                continue;
            };
            for role in &service.roles {
                let role =
                    RoleCode::parse(&role.code).map_err(|e| HabilitationError::Invalid(e.0))?;
                let used = state
                    .stores
                    .habilitations
                    .count_holders(&context.partner.id, client_id, &role)
                    .await?;
                uses.push(QuotaUse {
                    convention: convention.id.clone(),
                    client_id: client_id.clone(),
                    maximum: quotas.get(&(client_id.clone(), role.clone())).copied(),
                    role,
                    used,
                });
            }
        }
    }
    Ok(uses)
}

/// The account status a person is shown with.
pub fn account_state_label(account: &Account) -> &'static str {
    match (account.closed_at, account.status) {
        (Some(_), _) => "fermé",
        (None, AccountStatus::Pending) => "en attente d'activation",
        (None, AccountStatus::Active) => "actif",
        (None, AccountStatus::Suspended) => "suspendu",
    }
}
