//! Annexe 1 in the console: the printable annex of a service (open accesses and those closed
//! less than two years ago), its CSV, and the import of a new annex — a plan first, applied
//! only on confirmation.

use super::{ConsoleUser, hidden_csrf, render};
use crate::habilitations::Record;
use crate::habilitations::access::{Action, Target};
use crate::habilitations::annexe1::{self, ImportTarget, Plan};
use crate::habilitations::{HabilitationError, manage};
use crate::state::AppState;
use crate::types::{ClientId, PartnerId, RoleCode};
use crate::web::error::PageResult;
use crate::web::extract::ConsoleForm;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;

fn ids(partner: &str, service: Option<&str>) -> Result<(PartnerId, ClientId), HabilitationError> {
    Ok((
        PartnerId::parse(partner).map_err(|_| HabilitationError::NotFound(Record::Partner))?,
        service
            .and_then(|s| ClientId::parse(s).ok())
            .ok_or(HabilitationError::NotFound(Record::Service))?,
    ))
}

fn rows_table(caption: &str, rows: &[annexe1::Row]) -> Markup {
    html! {
        table class="stack" {
            caption { (caption) }
            thead { tr { th scope="col" { "Nom" } th scope="col" { "Adresse électronique" } th scope="col" { "Fonction" } th scope="col" { "Date" } th scope="col" { "Rôles" } } }
            tbody {
                @if rows.is_empty() { tr { td colspan="5" { "Personne." } } }
                @for r in rows {
                    tr {
                        td data-label="Nom" { (r.civility.as_deref().unwrap_or("")) " " (r.family_name.to_uppercase()) " " (r.given_name) }
                        td data-label="Adresse électronique" { (r.email) }
                        td data-label="Fonction" { (r.function.as_deref().unwrap_or("")) }
                        td data-label="Date" { (r.date) }
                        td data-label="Rôles" { (r.roles.join(", ")) }
                    }
                }
            }
        }
    }
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(partner): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    let (partner, service) = ids(&partner, query.get("service").map(String::as_str))?;
    let export = annexe1::export(&state, &user.actor, &partner, &service).await?;
    let context = manage::partner(&state, &user.actor, &partner).await?;
    let roles = state
        .stores
        .services
        .get_service(&service)
        .await?
        .map(|s| s.roles)
        .unwrap_or_default();
    if query.get("format").map(String::as_str) == Some("csv") {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"annexe1.csv\"",
                ),
            ],
            annexe1::to_csv(&export),
        )
            .into_response());
    }
    let importable: Vec<_> = roles
        .iter()
        .filter(|r| {
            RoleCode::parse(&r.code).is_ok_and(|role| {
                super::may(&user.actor, &context, Action::ManageUsers)
                    && super::may(
                        &user.actor,
                        &context,
                        Action::Grant {
                            client_id: &ClientId::parse(&export.service).expect("stored id"),
                            role: &role,
                            target: Target::Other,
                        },
                    )
            })
        })
        .collect();
    let body = html! {
        p { "Service « " (export.service_name) " » — " a href={ "/console/partenaires/" (export.partner) "#annexe1" } { (export.partner_name) } }
        p { "Date de transmission : " (export.transmitted_on) }
        p class="noprint" { a href={ "?service=" (export.service) "&format=csv" } { "Télécharger au format CSV" } " — imprimez cette page (ou enregistrez-la en PDF) pour la transmettre." }
        (rows_table("1 – Personnes pour lesquelles un nouvel accès est demandé ou qui ont un accès ouvert", &export.open))
        (rows_table("2 – Personnes pour lesquelles une clôture de l'accès est demandée ou qui ont un accès clôturé depuis moins de 2 ans", &export.closed))
        @if !importable.is_empty() {
            form method="post" class="noprint" {
                (hidden_csrf(&user))
                input type="hidden" name="service" value=(export.service);
                fieldset {
                    legend { "Importer une nouvelle annexe 1" }
                    p class="hint" { "Collez l'annexe transmise par le partenaire (lignes « NOM Prénom ; adresse ; fonction ; date » sous les titres 1 et 2) ou un fichier CSV avec en-tête. Vous verrez ce qui changera avant de confirmer." }
                    label for="role" { "Rôle attribué aux personnes de la liste 1" }
                    select id="role" name="role" { @for r in &importable { option value=(r.code) { (r.label) } } }
                    label for="scope" { "Périmètre" span class="hint" { "codes INSEE séparés par des virgules, si le service en demande" } }
                    input type="text" id="scope" name="scope" maxlength="2000";
                    label for="text" { "Contenu de l'annexe" }
                    textarea id="text" name="text" rows="12" required {}
                    button type="submit" name="action" value="plan" { "Voir les changements" }
                }
            }
        }
    };
    render("Annexe 1 – suivi des habilitations", &user, body)
}

fn plan_view(plan: &Plan) -> Markup {
    let people = |title: &str, list: &[annexe1::Person]| {
        html! {
            h3 { (title) " (" (list.len()) ")" }
            @if !list.is_empty() {
                ul { @for p in list { li { (p.family_name) " " (p.given_name) " — " (p.email) } } }
            }
        }
    };
    html! {
        @if !plan.errors.is_empty() {
            div class="error" role="alert" {
                p { "L'annexe comporte des erreurs ; rien n'a été modifié :" }
                ul { @for e in &plan.errors { li { @if e.line > 0 { "ligne " (e.line) " : " } (e.message) } } }
            }
        }
        (people("Comptes créés (avec un lien d'activation)", &plan.create))
        (people("Habilitations attribuées à des comptes existants", &plan.grant))
        (people("Inchangés", &plan.keep))
        h3 { "Accès fermés (" (plan.close.len()) ")" }
        @if !plan.close.is_empty() {
            ul { @for c in &plan.close {
                li { (c.family_name) " " (c.given_name) " — " (c.email) " — "
                    (if c.why == "absent" { "absent de la liste 1" } else { "clôture demandée" }) }
            } }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ImportForm {
    service: Option<String>,
    role: Option<String>,
    /// INSEE codes separated by commas.
    scope: Option<String>,
    /// The annex, as its CSV.
    text: Option<String>,
    /// `apply` once the plan was seen; otherwise only the plan.
    action: Option<String>,
    /// `oui`: the sender confirmed that the addresses which look shared each name one person.
    named_people: Option<String>,
}

pub(super) async fn import(
    State(state): State<AppState>,
    Path(partner): Path<String>,
    ConsoleForm { user, form, .. }: ConsoleForm<ImportForm>,
) -> PageResult {
    let text = form.text.unwrap_or_default();
    let (partner, service) = ids(&partner, form.service.as_deref())?;
    let target = ImportTarget {
        partner,
        client_id: service,
        role: form
            .role
            .as_deref()
            .and_then(|r| RoleCode::parse(r).ok())
            .ok_or_else(|| HabilitationError::Invalid("Choisissez le rôle.".into()))?,
        scope: form
            .scope
            .as_deref()
            .map(crate::habilitations::scope_list)
            .unwrap_or_default(),
        named_people: form.named_people.as_deref() == Some("oui"),
    };
    let applied = form.action.as_deref() == Some("apply");
    let plan = if applied {
        annexe1::apply(&state, &user.actor, &target, &text).await?.0
    } else {
        annexe1::plan(&state, &user.actor, &target, &text).await?
    };
    let back = format!(
        "/console/partenaires/{}/annexe1?service={}",
        target.partner, target.client_id
    );
    let body = html! {
        @if applied {
            div class="info" role="status" { p { "L'annexe 1 a été appliquée." } }
        }
        (plan_view(&plan))
        @let hidden = html! {
            (hidden_csrf(&user))
            input type="hidden" name="service" value=(target.client_id);
            input type="hidden" name="role" value=(target.role);
            input type="hidden" name="scope" value=(target.scope.join(","));
            input type="hidden" name="text" value=(text);
        };
        @if !applied && !target.named_people && !plan.shared_addresses.is_empty() {
            form method="post" {
                (hidden)
                fieldset {
                    legend { "Adresses qui semblent partagées" }
                    p { "Un compte Passerelle est nominatif. Ces adresses ressemblent à celles d'un service, que plusieurs personnes lisent :" }
                    ul { @for e in &plan.shared_addresses { li { (e) } } }
                    p { "Demandez au partenaire l'adresse professionnelle de chaque personne ; ou, si vous savez que chacune n'est lue que par la personne nommée, confirmez-le." }
                    input type="checkbox" id="named-people" name="named_people" value="oui" required;
                    label class="inline" for="named-people" { "Je confirme que chacune de ces adresses n'est lue que par la personne nommée dans l'annexe" }
                    br;
                    button type="submit" name="action" value="plan" { "Confirmer et revoir les changements" }
                }
            }
        }
        @if !applied && plan.errors.is_empty() {
            form method="post" {
                (hidden)
                @if target.named_people { input type="hidden" name="named_people" value="oui"; }
                button type="submit" name="action" value="apply" { "Appliquer ces changements" }
            }
        }
        p { a href=(back) { "Revenir à l'annexe 1" } }
    };
    render(
        if applied {
            "Annexe 1 appliquée"
        } else {
            "Changements prévus par l'annexe 1"
        },
        &user,
        body,
    )
}
