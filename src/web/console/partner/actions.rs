//! The forms that act on a partner: people, grants and their status, groups, quotas, mode,
//! partners and conventions. Each checks its CSRF token, calls `habilitations::manage` and
//! comes back to the partner's page with what was done.

use super::*;

pub(in crate::web::console) async fn create_person(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = match partner_id(&id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let result = async {
        let person = PersonFields::parse(
            field(&fields, "email").unwrap_or(""),
            field(&fields, "civility"),
            field(&fields, "given_name").unwrap_or(""),
            field(&fields, "family_name").unwrap_or(""),
            field(&fields, "function"),
        )?;
        manage::create_person(&state, &user.actor, &id, person, vec![]).await
    }
    .await;
    match result {
        Ok(_) => back(id.as_str(), "personne", "personnes"),
        Err(e) => failure(e),
    }
}

/// `service|role` from a select.
pub(super) fn service_role(value: Option<&str>) -> Result<(ClientId, RoleCode), HabilitationError> {
    let invalid = || HabilitationError::Invalid("Choisissez un service et un rôle.".into());
    let (service, role) = value.and_then(|v| v.split_once('|')).ok_or_else(invalid)?;
    Ok((
        ClientId::parse(service).map_err(|_| invalid())?,
        RoleCode::parse(role).map_err(|_| invalid())?,
    ))
}

pub(super) fn end_of_day(value: Option<&str>) -> Result<Option<i64>, HabilitationError> {
    value
        .map(|v| {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.succ_opt())
                .map(|d| {
                    d.and_hms_opt(0, 0, 0)
                        .expect("midnight")
                        .and_utc()
                        .timestamp()
                })
                .ok_or_else(|| {
                    HabilitationError::Invalid("Date de fin de validité invalide.".into())
                })
        })
        .transpose()
}

pub(in crate::web::console) async fn grant(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = match partner_id(&id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let result = async {
        let holder = match field(&fields, "holder").and_then(|h| h.split_once(':')) {
            Some(("account", a)) => Holder::Account(AccountId::from_stored(a.to_owned())),
            Some(("group", g)) => {
                Holder::Group(GroupId::parse(g).map_err(|_| HabilitationError::NotFound("groupe"))?)
            }
            _ => {
                return Err(HabilitationError::Invalid(
                    "Choisissez le titulaire.".into(),
                ));
            }
        };
        let (client_id, role) = service_role(field(&fields, "service_role"))?;
        let scope = field(&fields, "scope")
            .map(|s| {
                s.split([',', ' ', ';'])
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let request = GrantRequest {
            holder,
            client_id,
            role,
            scope,
            valid_from: None,
            valid_until: end_of_day(field(&fields, "valid_until"))?,
        };
        manage::grant(&state, &user.actor, &id, request, field(&fields, "reason")).await
    }
    .await;
    match result {
        Ok(_) => back(id.as_str(), "habilitation", "habilitations"),
        Err(e) => failure(e),
    }
}

pub(in crate::web::console) async fn create_group(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = match partner_id(&id) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    match manage::create_group(
        &state,
        &user.actor,
        &id,
        field(&fields, "name").unwrap_or(""),
    )
    .await
    {
        Ok(g) => Redirect::to(&format!("/console/groupes/{}?fait=groupe", g.id)).into_response(),
        Err(e) => failure(e),
    }
}

pub(in crate::web::console) async fn set_quota(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(_): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result = async {
        let invalid = || HabilitationError::Invalid("Choisissez un service et un rôle.".into());
        let value = field(&fields, "service_role").ok_or_else(invalid)?;
        let (convention, rest) = value.split_once('|').ok_or_else(invalid)?;
        let convention = ConventionId::parse(convention)
            .map_err(|_| HabilitationError::NotFound("convention"))?;
        let (client_id, role) = service_role(Some(rest))?;
        let maximum = match field(&fields, "maximum") {
            None => None,
            Some(m) => Some(m.trim().parse::<u32>().map_err(|_| {
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
            field(&fields, "reason"),
        )
        .await?;
        let (c, _) = manage::convention(&state, &user.actor, &convention).await?;
        Ok(c.partner)
    }
    .await;
    match result {
        Ok(partner) => back(partner.as_str(), "quota", "quotas"),
        Err(e) => failure(e),
    }
}

pub(in crate::web::console) async fn set_mode(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result = async {
        let id = ConventionId::parse(&id).map_err(|_| HabilitationError::NotFound("convention"))?;
        let mode = field(&fields, "mode")
            .and_then(HabilitationMode::parse)
            .ok_or_else(|| HabilitationError::Invalid("Mode inconnu.".into()))?;
        manage::switch_mode(&state, &user.actor, &id, mode, field(&fields, "reason")).await
    }
    .await;
    match result {
        Ok(c) => back(c.partner.as_str(), "mode", "conventions"),
        Err(e) => failure(e),
    }
}

pub(in crate::web::console) async fn change_status(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result = async {
        let id =
            HabilitationId::parse(&id).map_err(|_| HabilitationError::NotFound("habilitation"))?;
        let change = field(&fields, "change")
            .and_then(StatusChange::parse)
            .ok_or_else(|| HabilitationError::Invalid("Action inconnue.".into()))?;
        manage::change_status(&state, &user.actor, &id, change, field(&fields, "reason")).await
    }
    .await;
    match result {
        Ok(h) => {
            // Back to the page the form was on, when it is a console page.
            let target = field(&fields, "back")
                .filter(|b| b.starts_with("/console/") && !b.contains("//"))
                .map(str::to_owned)
                .unwrap_or_else(|| format!("/console/partenaires/{}", h.partner));
            Redirect::to(&format!("{target}?fait=statut")).into_response()
        }
        Err(e) => failure(e),
    }
}

pub(in crate::web::console) async fn create_partner(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result = async {
        let invalid = |m: &str| HabilitationError::Invalid(m.to_owned());
        let partner = crate::store::Partner {
            id: PartnerId::parse(field(&fields, "id").unwrap_or(""))
                .map_err(|_| invalid("L'identifiant ne peut contenir que des lettres minuscules, des chiffres et des tirets."))?,
            caf: crate::types::CafCode::parse(field(&fields, "caf").unwrap_or(""))
                .map_err(|_| invalid("Choisissez la Caf."))?,
            name: field(&fields, "name").unwrap_or("").trim().to_owned(),
            siret: field(&fields, "siret")
                .map(crate::types::Siret::parse)
                .transpose()
                .map_err(|_| invalid("Le SIRET compte 14 chiffres et sa clé doit être juste."))?,
        };
        manage::create_partner(&state, &user.actor, partner).await
    }
    .await;
    match result {
        Ok(p) => Redirect::to(&format!("/console/partenaires/{}", p.id)).into_response(),
        Err(e) => failure(e),
    }
}

pub(in crate::web::console) async fn create_convention(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result = async {
        let invalid = |m: &str| HabilitationError::Invalid(m.to_owned());
        let id = PartnerId::parse(&id).map_err(|_| HabilitationError::NotFound("partenaire"))?;
        let context = manage::partner(&state, &user.actor, &id).await?;
        let convention = crate::store::Convention {
            id: ConventionId::generate(),
            number: field(&fields, "number").unwrap_or("").to_owned(),
            kind: field(&fields, "kind")
                .and_then(crate::store::ConventionKind::parse)
                .ok_or_else(|| invalid("Choisissez l'offre."))?,
            caf: context.partner.caf.clone(),
            partner: id,
            services: fields
                .iter()
                .filter(|(k, _)| k == "service")
                .map(|(_, v)| ClientId::parse(v).map_err(|_| invalid("Service inconnu.")))
                .collect::<Result<_, _>>()?,
            starts_on: field(&fields, "starts_on")
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .ok_or_else(|| invalid("Indiquez la date de début."))?,
            terminated_on: None,
            mode: field(&fields, "mode")
                .and_then(HabilitationMode::parse)
                .unwrap_or_default(),
            contacts: Vec::new(),
        };
        manage::save_convention(&state, &user.actor, convention).await
    }
    .await;
    match result {
        Ok(c) => back(c.partner.as_str(), "convention", "conventions"),
        Err(e) => failure(e),
    }
}

pub(in crate::web::console) async fn terminate_convention(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result = async {
        let id = ConventionId::parse(&id).map_err(|_| HabilitationError::NotFound("convention"))?;
        let (convention, _) = manage::convention(&state, &user.actor, &id).await?;
        let end = field(&fields, "terminated_on")
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .ok_or_else(|| HabilitationError::Invalid("Indiquez la date de résiliation.".into()))?;
        manage::save_convention(
            &state,
            &user.actor,
            crate::store::Convention {
                terminated_on: Some(end),
                ..convention
            },
        )
        .await
    }
    .await;
    match result {
        Ok(c) => back(c.partner.as_str(), "convention", "conventions"),
        Err(e) => failure(e),
    }
}
