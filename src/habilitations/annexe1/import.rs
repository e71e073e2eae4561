//! Importing an annexe 1: the plan of what would change, then its application through `habilitations::manage`.

use super::*;

/// What an import is about: one service role of one partner.
#[derive(Debug, Clone)]
pub struct ImportTarget {
    pub partner: PartnerId,
    pub client_id: ClientId,
    pub role: RoleCode,
    pub scope: Vec<String>,
    /// The sender confirmed that the addresses which look shared each name one person.
    pub named_people: bool,
}

/// What applying the annex would do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// New accounts, each receiving the habilitation and an activation mail.
    pub create: Vec<Person>,
    /// Existing people of the partner who receive the habilitation.
    pub grant: Vec<Person>,
    /// People who already hold it.
    pub keep: Vec<Person>,
    /// Holders whose habilitation is closed: listed in list 2, or absent from list 1.
    pub close: Vec<Closure>,
    pub errors: Vec<LineError>,
    /// New accounts whose address looks shared (`credentials.collective_addresses`): the plan
    /// applies only once the sender confirms each names one person.
    pub shared_addresses: Vec<Email>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Closure {
    pub email: Email,
    pub given_name: String,
    pub family_name: String,
    pub habilitation: String,
    /// `list_2` or `absent`.
    pub why: &'static str,
}

/// Computes the plan of an import; checks the actor's rights on everything it would do.
pub async fn plan(
    state: &AppState,
    actor: &Actor,
    target: &ImportTarget,
    text: &str,
) -> HabResult<Plan> {
    let context = PartnerContext::load(state, &target.partner).await?;
    access::check(actor, &context, Action::ManageUsers)?;
    access::check(
        actor,
        &context,
        Action::Grant {
            client_id: &target.client_id,
            role: &target.role,
            target: Target::Other,
        },
    )?;
    let service = state
        .stores
        .services
        .get_service(&target.client_id)
        .await?
        .ok_or(HabilitationError::NotFound(Record::Service))?;
    manage::validate_role_and_scope(&service, &target.role, &target.scope)?;
    if let Some(convention) = context.convention_for(&target.client_id) {
        manage::check_grantable(
            convention,
            &context.quotas(state).await?,
            &service,
            &target.role,
        )?;
    }
    let (people, mut errors) = parse(text);
    let mut plan = Plan::default();
    let mut seen = BTreeSet::new();
    let holders = open_holders(state, target).await?;
    let mut listed_open = BTreeSet::new();
    for person in people {
        if !seen.insert(person.email.clone()) {
            errors.push(LineError {
                line: person.line,
                message: format!("{} figure deux fois", person.email),
            });
            continue;
        }
        let existing = state
            .stores
            .accounts
            .find_account_by_email(&person.email)
            .await?;
        if let Some(a) = &existing {
            if a.profile.partner.as_ref() != Some(&target.partner) {
                // Not revealed to the partner: the Caf is told where the address is used.
                crate::habilitations::notify::report_unavailable_email(
                    state,
                    &Author::Person(actor),
                    &context,
                    a,
                )
                .await?;
                errors.push(LineError {
                    line: person.line,
                    message: manage::unavailable_email_message(&person.email),
                });
                continue;
            }
            if a.closed_at.is_some() && person.list == List::Open {
                errors.push(LineError {
                    line: person.line,
                    message: format!(
                        "le compte de {} est fermé : il ne peut pas être rouvert par l'annexe",
                        person.email
                    ),
                });
                continue;
            }
        }
        match (person.list, existing) {
            (List::Open, None) => {
                if state.settings.looks_collective(&person.email) {
                    plan.shared_addresses.push(person.email.clone());
                    if !target.named_people {
                        errors.push(LineError {
                            line: person.line,
                            message: format!(
                                "{} ressemble à l'adresse d'un service, que plusieurs personnes lisent : un compte est nominatif ; donnez l'adresse de la personne, ou confirmez qu'elle n'est lue que par elle",
                                person.email
                            ),
                        });
                        continue;
                    }
                }
                listed_open.insert(person.email.clone());
                plan.create.push(person);
            }
            (List::Open, Some(a)) => {
                listed_open.insert(person.email.clone());
                if holders.contains_key(&a.id.to_string()) {
                    plan.keep.push(person);
                } else {
                    plan.grant.push(person);
                }
            }
            (List::Closed, Some(a)) => {
                if let Some(h) = holders.get(&a.id.to_string()) {
                    plan.close.push(closure(&a, h, "list_2"));
                } else {
                    plan.keep.push(person);
                }
            }
            (List::Closed, None) => plan.keep.push(person),
        }
    }
    for (account_id, h) in &holders {
        let Some(account) = state
            .stores
            .accounts
            .get_account(&crate::types::AccountId::from_stored(account_id.clone()))
            .await?
        else {
            continue;
        };
        if !listed_open.contains(&account.profile.email)
            && !plan.close.iter().any(|c| c.email == account.profile.email)
        {
            plan.close.push(closure(&account, h, "absent"));
        }
    }
    // The quota must hold once the plan is applied.
    let quotas = context.quotas(state).await?;
    if let Some(&maximum) = quotas.get(&(target.client_id.clone(), target.role.clone())) {
        let used = state
            .stores
            .habilitations
            .count_holders(&target.partner, &target.client_id, &target.role)
            .await?;
        let after =
            (used as usize + plan.create.len() + plan.grant.len()).saturating_sub(plan.close.len());
        if after > maximum as usize {
            errors.push(LineError {
                line: 0,
                message: format!(
                    "quota dépassé : {after} personnes auraient le rôle « {} » pour {maximum} autorisées",
                    target.role
                ),
            });
        }
    }
    plan.errors = errors;
    Ok(plan)
}

pub(super) fn closure(account: &Account, h: &Habilitation, why: &'static str) -> Closure {
    Closure {
        email: account.profile.email.clone(),
        given_name: account.profile.given_name.clone(),
        family_name: account.profile.family_name.clone(),
        habilitation: h.id.to_string(),
        why,
    }
}

/// The people holding an open direct habilitation for the target role, by account id.
pub(super) async fn open_holders(
    state: &AppState,
    target: &ImportTarget,
) -> HabResult<BTreeMap<String, Habilitation>> {
    Ok(state
        .stores
        .habilitations
        .habilitations_of_partner(&target.partner)
        .await?
        .into_iter()
        .filter(|h| {
            h.client_id == target.client_id
                && h.role == target.role
                && h.status != HabilitationStatus::Closed
        })
        .filter_map(|h| match &h.holder {
            Holder::Account(a) => Some((a.to_string(), h)),
            Holder::Group(_) => None,
        })
        .collect())
}

/// What an applied import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    pub created: usize,
    pub granted: usize,
    pub kept: usize,
    pub closed: usize,
}

/// Applies an import: recomputes the plan (the data may have changed since the dry run) and
/// refuses it when it has errors.
pub async fn apply(
    state: &AppState,
    actor: &Actor,
    target: &ImportTarget,
    text: &str,
) -> HabResult<(Plan, Applied)> {
    let plan = plan(state, actor, target, text).await?;
    if !plan.errors.is_empty() {
        return Err(HabilitationError::Invalid(format!(
            "L'annexe comporte {} erreur(s) : corrigez-les avant de l'appliquer.",
            plan.errors.len()
        )));
    }
    let context = PartnerContext::load(state, &target.partner).await?;
    let author = Author::Person(actor);
    let reason = format!(
        "Annexe 1 transmise le {}",
        crate::habilitations::today().format("%d/%m/%Y")
    );
    let mut applied = Applied {
        kept: plan.keep.len(),
        ..Applied::default()
    };
    for c in &plan.close {
        let (h, _) = manage::habilitation(
            state,
            actor,
            &crate::types::HabilitationId::parse(&c.habilitation)
                .map_err(|e| HabilitationError::Invalid(e.0))?,
        )
        .await?;
        manage::change_status_as(state, author, h, StatusChange::Close, &reason).await?;
        applied.closed += 1;
    }
    let grant = |account: &Account| GrantRequest {
        holder: Holder::Account(account.id.clone()),
        client_id: target.client_id.clone(),
        role: target.role.clone(),
        scope: target.scope.clone(),
        valid_from: None,
        valid_until: None,
    };
    for p in &plan.grant {
        let account = state
            .stores
            .accounts
            .find_account_by_email(&p.email)
            .await?
            .ok_or(HabilitationError::NotFound(Record::Account))?;
        manage::grant_as(state, author, &context, grant(&account), Some(&reason)).await?;
        applied.granted += 1;
    }
    for p in &plan.create {
        let fields = PersonFields {
            email: p.email.clone(),
            civility: p.civility.clone(),
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            function: p.function.clone(),
            named_person: target.named_people,
        };
        let account = manage::create_person_as(
            state,
            author,
            &context,
            fields,
            vec![target.client_id.clone()],
        )
        .await?;
        manage::grant_as(state, author, &context, grant(&account), Some(&reason)).await?;
        applied.created += 1;
    }
    record(
        state,
        author,
        Some(&target.partner),
        "annexe1.import",
        format!("partner:{}", target.partner),
        Some(&reason),
        serde_json::json!({
            "service": target.client_id,
            "role": target.role,
            "created": applied.created,
            "granted": applied.granted,
            "closed": applied.closed,
        }),
    )
    .await?;
    Ok((plan, applied))
}
