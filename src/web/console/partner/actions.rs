//! The forms that act on a partner: people, grants and their status, groups, quotas, mode,
//! partners and conventions. Each arrives CSRF-checked and typed (`ConsoleForm`), calls
//! `habilitations::manage` and comes back to the partner's page with what was done.

use super::*;
use crate::habilitations::Record;
use crate::web::console::forms::{GrantForm, date, service_role};

pub(in crate::web::console) async fn create_person(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: ConsoleForm<PersonForm>,
) -> PageResult {
    let id = partner_id(&id)?;
    let mut person = form.form.fields(None)?;
    person.named_person = form.confirmed();
    match manage::create_person(&state, &form.user.actor, &id, person, vec![]).await {
        Err(HabilitationError::SharedAddress(email)) => super::super::forms::shared_address_page(
            &form.user,
            &email,
            &format!("/console/partenaires/{id}/personnes"),
            &form.raw,
            &format!("/console/partenaires/{id}#personnes"),
        ),
        Err(e) => Err(e.into()),
        Ok(_) => back(id.as_str(), "personne"),
    }
}

/// "le rôle « Contributeur » du service Coopération de Claire Dubois": a habilitation in words.
pub(in crate::web::console) async fn held_role(
    state: &AppState,
    h: &Habilitation,
) -> Result<String, HabilitationError> {
    let service = state.stores.services.get_service(&h.client_id).await?;
    let (service_name, role) = match &service {
        Some(s) => (
            s.name.clone(),
            s.roles
                .iter()
                .find(|r| r.code == h.role.as_str())
                .map(|r| r.label.clone())
                .unwrap_or_else(|| h.role.to_string()),
        ),
        None => (h.client_id.to_string(), h.role.to_string()),
    };
    let holder = match &h.holder {
        Holder::Account(a) => state
            .stores
            .accounts
            .get_account(a)
            .await?
            .map(|a| format!("de {} {}", a.profile.given_name, a.profile.family_name))
            .unwrap_or_default(),
        Holder::Group(g) => state
            .stores
            .habilitations
            .get_group(g)
            .await?
            .map(|g| format!("du groupe « {} »", g.name))
            .unwrap_or_default(),
    };
    Ok(
        format!("le rôle « {role} » du service {service_name} {holder}")
            .trim_end()
            .to_owned(),
    )
}

pub(in crate::web::console) async fn grant(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { user, form, .. }: ConsoleForm<GrantForm>,
) -> PageResult {
    let id = partner_id(&id)?;
    let request = form.request()?;
    manage::grant(&state, &user.actor, &id, request, form.reason.as_deref()).await?;
    back(id.as_str(), "habilitation")
}

#[derive(Deserialize)]
pub(in crate::web::console) struct GroupForm {
    name: Option<String>,
}

pub(in crate::web::console) async fn create_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { user, form, .. }: ConsoleForm<GroupForm>,
) -> PageResult {
    let id = partner_id(&id)?;
    let name = form.name.as_deref().unwrap_or("");
    let group = manage::create_group(&state, &user.actor, &id, name).await?;
    Ok(Redirect::to(&format!(
        "/console/groupes/{}?fait=groupe#message",
        group.id
    ))
    .into_response())
}

#[derive(Deserialize)]
pub(in crate::web::console) struct QuotaForm {
    /// `convention|service|role`.
    service_role: Option<String>,
    /// Empty: no quota.
    maximum: Option<String>,
    reason: Option<String>,
}

pub(in crate::web::console) async fn set_quota(
    State(state): State<AppState>,
    Path(_): Path<String>,
    ConsoleForm { user, form, .. }: ConsoleForm<QuotaForm>,
) -> PageResult {
    let invalid = || HabilitationError::Invalid("Choisissez un service et un rôle.".into());
    let value = form.service_role.as_deref().ok_or_else(invalid)?;
    let (convention, rest) = value.split_once('|').ok_or_else(invalid)?;
    let convention = ConventionId::parse(convention)
        .map_err(|_| HabilitationError::NotFound(Record::Convention))?;
    let (client_id, role) = service_role(Some(rest))?;
    let maximum = match form.maximum.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(m) => Some(m.parse::<u32>().map_err(|_| {
            HabilitationError::Invalid("Le quota est un nombre entier positif.".into())
        })?),
    };
    manage::set_quota(
        &state,
        &user.actor,
        &convention,
        &client_id,
        &role,
        maximum,
        form.reason.as_deref(),
    )
    .await?;
    let (c, _) = manage::convention(&state, &user.actor, &convention).await?;
    back(c.partner.as_str(), "quota")
}

#[derive(Deserialize)]
pub(in crate::web::console) struct ModeForm {
    mode: HabilitationMode,
    reason: Option<String>,
}

pub(in crate::web::console) async fn set_mode(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: ConsoleForm<ModeForm>,
) -> PageResult {
    let id =
        ConventionId::parse(&id).map_err(|_| HabilitationError::NotFound(Record::Convention))?;
    if posted.form.mode == HabilitationMode::Centralized && posted.asks_confirmation(true) {
        let (c, _) = manage::convention(&state, &posted.user.actor, &id).await?;
        return confirm_page(
            &posted.user,
            "Retirer la délégation",
            html! {
                "Vous allez retirer la délégation pour la convention " (c.number)
                " : les administrateurs du partenaire ne pourront plus attribuer ni retirer d'habilitation ; ils adresseront leurs demandes à la Caf."
            },
            &format!("/console/conventions/{id}/mode"),
            &posted.raw,
            &format!("/console/partenaires/{}", c.partner),
        );
    }
    let ConsoleForm { user, form, .. } = posted;
    let c =
        manage::switch_mode(&state, &user.actor, &id, form.mode, form.reason.as_deref()).await?;
    back(c.partner.as_str(), "mode")
}

#[derive(Deserialize)]
pub(in crate::web::console) struct StatusForm {
    change: StatusChange,
    reason: Option<String>,
    /// The console page the form was on, to come back to.
    back: Option<String>,
}

pub(in crate::web::console) async fn change_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: ConsoleForm<StatusForm>,
) -> PageResult {
    let id = HabilitationId::parse(&id)
        .map_err(|_| HabilitationError::NotFound(Record::Habilitation))?;
    if posted.asks_confirmation(true) && posted.form.change != StatusChange::Reactivate {
        let (h, _) = manage::habilitation(&state, &posted.user.actor, &id).await?;
        let what = held_role(&state, &h).await?;
        let (title, verb, then) = match posted.form.change {
            StatusChange::Suspend => (
                "Suspendre une habilitation",
                "suspendre",
                "Elle pourra être réactivée ; ses sessions prennent fin tout de suite.",
            ),
            _ => (
                "Retirer une habilitation",
                "retirer définitivement",
                "Ce retrait ne se défait pas : il faudra une nouvelle attribution.",
            ),
        };
        let cancel = posted
            .form
            .back
            .clone()
            .filter(|b| b.starts_with("/console/") && !b.contains("//"))
            .unwrap_or_else(|| format!("/console/partenaires/{}", h.partner));
        return confirm_page(
            &posted.user,
            title,
            html! { "Vous allez " (verb) " " (what) ". " (then) },
            &format!("/console/habilitations/{id}/statut"),
            &posted.raw,
            &cancel,
        );
    }
    let ConsoleForm { user, form, .. } = posted;
    let h = manage::change_status(
        &state,
        &user.actor,
        &id,
        form.change,
        form.reason.as_deref(),
    )
    .await?;
    // Back to the page the form was on, when it is a console page.
    let target = form
        .back
        .filter(|b| b.starts_with("/console/") && !b.contains("//"))
        .unwrap_or_else(|| format!("/console/partenaires/{}", h.partner));
    Ok(Redirect::to(&format!("{target}?fait=statut#message")).into_response())
}

#[derive(Deserialize)]
pub(in crate::web::console) struct PartnerForm {
    id: Option<String>,
    caf: Option<String>,
    name: Option<String>,
    siret: Option<String>,
    commune: Option<String>,
}

pub(in crate::web::console) async fn create_partner(
    State(state): State<AppState>,
    ConsoleForm { user, form, .. }: ConsoleForm<PartnerForm>,
) -> PageResult {
    let invalid = |m: &str| HabilitationError::Invalid(m.to_owned());
    let partner = crate::store::Partner {
        id: PartnerId::parse(form.id.as_deref().unwrap_or("")).map_err(|_| {
            invalid("L'identifiant ne peut contenir que des lettres minuscules, des chiffres et des tirets.")
        })?,
        caf: crate::types::CafCode::parse(form.caf.as_deref().unwrap_or(""))
            .map_err(|_| invalid("Choisissez la Caf."))?,
        name: form.name.as_deref().unwrap_or("").trim().to_owned(),
        siret: form
            .siret
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(crate::types::Siret::parse)
            .transpose()
            .map_err(|_| invalid("Le SIRET compte 14 chiffres et sa clé doit être juste."))?,
        commune: crate::store::Partner::commune_of(form.commune.as_deref()),
    };
    let p = manage::create_partner(&state, &user.actor, partner).await?;
    Ok(Redirect::to(&format!("/console/partenaires/{}", p.id)).into_response())
}

#[derive(Deserialize)]
pub(in crate::web::console) struct ConventionForm {
    number: Option<String>,
    kind: Option<ConventionKind>,
    /// One field per service the convention opens.
    #[serde(default)]
    service: Vec<String>,
    /// One field per subscribed role, `client_id|role` (its service is opened with it).
    #[serde(default)]
    role: Vec<String>,
    starts_on: Option<String>,
    mode: Option<HabilitationMode>,
}

pub(in crate::web::console) async fn create_convention(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { user, form, .. }: ConsoleForm<ConventionForm>,
) -> PageResult {
    let invalid = |m: &str| HabilitationError::Invalid(m.to_owned());
    let id = partner_id(&id)?;
    let context = manage::partner(&state, &user.actor, &id).await?;
    let roles = subscribed_roles_of(&form.role)?;
    let mut services: Vec<ClientId> = form
        .service
        .iter()
        .map(|v| ClientId::parse(v).map_err(|_| invalid("Service inconnu.")))
        .collect::<Result<_, _>>()?;
    for r in &roles {
        if !services.contains(&r.service) {
            services.push(r.service.clone());
        }
    }
    let convention = crate::store::Convention {
        id: ConventionId::generate(),
        number: form.number.unwrap_or_default(),
        kind: form.kind.ok_or_else(|| invalid("Choisissez l'offre."))?,
        caf: context.partner.caf.clone(),
        partner: id,
        services,
        roles,
        starts_on: date(form.starts_on.as_deref(), "Indiquez la date de début.")?,
        terminated_on: None,
        mode: form.mode.unwrap_or_default(),
        contacts: Vec::new(),
    };
    let c = manage::save_convention(&state, &user.actor, convention).await?;
    back(c.partner.as_str(), "convention")
}

/// The subscribed roles ticked in a convention form, one `client_id|role` value each.
fn subscribed_roles_of(
    values: &[String],
) -> Result<Vec<crate::store::SubscribedRole>, HabilitationError> {
    values
        .iter()
        .map(|v| {
            service_role(Some(v))
                .map(|(service, role)| crate::store::SubscribedRole { service, role })
        })
        .collect()
}

#[derive(Deserialize)]
pub(in crate::web::console) struct RolesForm {
    /// One field per subscribed role, `client_id|role`.
    #[serde(default)]
    role: Vec<String>,
}

pub(in crate::web::console) async fn subscribed_roles(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { user, form, .. }: ConsoleForm<RolesForm>,
) -> PageResult {
    let id =
        ConventionId::parse(&id).map_err(|_| HabilitationError::NotFound(Record::Convention))?;
    let roles = subscribed_roles_of(&form.role)?;
    let c = manage::set_subscribed_roles(&state, &user.actor, &id, roles).await?;
    back(c.partner.as_str(), "roles")
}

#[derive(Deserialize)]
pub(in crate::web::console) struct TerminationForm {
    terminated_on: Option<String>,
}

pub(in crate::web::console) async fn terminate_convention(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: ConsoleForm<TerminationForm>,
) -> PageResult {
    let ConsoleForm { user, form, .. } = &posted;
    let id =
        ConventionId::parse(&id).map_err(|_| HabilitationError::NotFound(Record::Convention))?;
    let (convention, _) = manage::convention(&state, &user.actor, &id).await?;
    let end = date(
        form.terminated_on.as_deref(),
        "Indiquez la date de résiliation.",
    )?;
    if posted.asks_confirmation(false) {
        return confirm_page(
            user,
            "Résilier une convention",
            html! {
                "Vous allez résilier la convention " (convention.number) " au " (end.format("%d/%m/%Y").to_string())
                " : à cette date, les habilitations qu'elle ouvre cessent de donner accès aux services."
            },
            &format!("/console/conventions/{id}/resiliation"),
            &posted.raw,
            &format!("/console/partenaires/{}", convention.partner),
        );
    }
    let convention = crate::store::Convention {
        terminated_on: Some(end),
        ..convention
    };
    let c = manage::save_convention(&state, &user.actor, convention).await?;
    back(c.partner.as_str(), "convention")
}

#[derive(Deserialize)]
pub(in crate::web::console) struct ContactForm {
    /// `add`, or `remove` with `index`.
    action: Option<String>,
    index: Option<usize>,
    side: Option<crate::store::ContactSide>,
    role: Option<crate::store::ContactRole>,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

/// Caf side: the convention's contacts (its annexes 2 and 3), whom the people's mails name.
pub(in crate::web::console) async fn contacts(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { user, form, .. }: ConsoleForm<ContactForm>,
) -> PageResult {
    let invalid = |m: &str| HabilitationError::Invalid(m.to_owned());
    let id =
        ConventionId::parse(&id).map_err(|_| HabilitationError::NotFound(Record::Convention))?;
    let (mut convention, _) = manage::convention(&state, &user.actor, &id).await?;
    match form.action.as_deref() {
        Some("remove") => {
            let index = form
                .index
                .filter(|i| *i < convention.contacts.len())
                .ok_or_else(|| invalid("Cet interlocuteur n'est plus enregistré."))?;
            convention.contacts.remove(index);
        }
        Some("add") => {
            let name = form.name.as_deref().unwrap_or("").trim().to_owned();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(
                    invalid("Le nom de l'interlocuteur compte de 1 à 100 caractères.").into(),
                );
            }
            let email = form
                .email
                .as_deref()
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(crate::types::Email::parse)
                .transpose()
                .map_err(|_| {
                    invalid("L'adresse électronique de l'interlocuteur n'est pas valable.")
                })?;
            let phone = form
                .phone
                .as_deref()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned);
            if phone.as_ref().is_some_and(|p| {
                p.chars().count() > 30
                    || !p
                        .chars()
                        .all(|c| c.is_ascii_digit() || " +.-()".contains(c))
            }) {
                return Err(invalid(
                    "Le téléphone ne contient que des chiffres, espaces, points et tirets.",
                )
                .into());
            }
            if email.is_none() && phone.is_none() {
                return Err(invalid("Indiquez une adresse électronique ou un téléphone pour joindre l'interlocuteur.").into());
            }
            convention.contacts.push(crate::store::Contact {
                side: form
                    .side
                    .ok_or_else(|| invalid("Choisissez le côté : partenaire ou Caf."))?,
                role: form
                    .role
                    .ok_or_else(|| invalid("Choisissez le rôle de l'interlocuteur."))?,
                name,
                email,
                phone,
            });
        }
        _ => return Err(invalid("Choisissez d'ajouter ou de retirer un interlocuteur.").into()),
    }
    let c = manage::save_convention(&state, &user.actor, convention).await?;
    back(c.partner.as_str(), "interlocuteurs")
}
