//! The yearly reverse review in the console: one decision per habilitation, then completion
//! and the signed report to download.

use super::partner::{holder_name, validity};
use super::{
    console_user, day, done_message, failure, field, hidden_csrf, posted_by, render, when,
};
use crate::habilitations::access::Action;
use crate::habilitations::{HabilitationError, review};
use crate::state::AppState;
use crate::store::ReviewDecision;
use crate::types::{HabilitationId, PartnerId, ReviewId};
use axum::extract::{Form, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use maud::html;
use std::collections::HashMap;

type Fields = Vec<(String, String)>;

fn review_id(id: &str) -> Result<ReviewId, HabilitationError> {
    ReviewId::parse(id).map_err(|_| HabilitationError::NotFound("revue"))
}

pub(super) async fn start(
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
        let id = PartnerId::parse(&id).map_err(|_| HabilitationError::NotFound("partenaire"))?;
        review::start(&state, &user.actor, &id).await
    }
    .await;
    match result {
        Ok(r) => Redirect::to(&format!("/console/revues/{}", r.id)).into_response(),
        Err(e) => failure(e),
    }
}

pub(super) async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let user = match console_user(&state, &jar).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result = async {
        let id = review_id(&id)?;
        let (r, context) = review::get(&state, &user.actor, &id).await?;
        let items = review::items(&state, &r).await?;
        let accounts = state
            .stores
            .accounts
            .accounts_of_partner(&context.partner.id)
            .await?;
        let groups = state
            .stores
            .habilitations
            .groups_of_partner(&context.partner.id)
            .await?;
        Ok::<_, HabilitationError>((r, context, items, accounts, groups))
    }
    .await;
    let (r, context, items, accounts, groups) = match result {
        Ok(v) => v,
        Err(e) => return failure(e),
    };
    let can_decide =
        r.completed_at.is_none() && super::may(&user.actor, &context, Action::PerformReview);
    let here = format!("/console/revues/{}", r.id);
    let body = html! {
        (done_message(query.get("fait").map(String::as_str)))
        p { a href={ "/console/partenaires/" (context.partner.id) "#revues" } { (context.partner.name) }
            " — commencée le " (when(r.started_at)) }
        @match r.completed_at {
            Some(t) => {
                div class="info" role="status" {
                    p { "Revue terminée le " (when(t)) ". "
                        a href={ (here) "/rapport" } { "Télécharger le rapport signé" }
                        " (format JWS, vérifiable avec les clés publiées par Passerelle)." }
                }
            }
            None => {
                @if can_decide {
                    p { "Pour chaque habilitation, confirmez qu'elle est toujours nécessaire ou retirez-la. Les retraits prennent effet à la fin de la revue." }
                    form method="post" action=(here) {
                        (hidden_csrf(&user))
                        table {
                            caption { "Habilitations ouvertes (" (items.len()) ")" }
                            thead { tr { th scope="col" { "Titulaire" } th scope="col" { "Service" } th scope="col" { "Rôle" } th scope="col" { "Validité" } th scope="col" { "Décision" } } }
                            tbody {
                                @for (h, d) in &items {
                                    tr {
                                        td { (holder_name(&h.holder, &accounts, &groups)) }
                                        td { (h.client_id) } td { (h.role) } td { (validity(h)) }
                                        td {
                                            fieldset class="decision" {
                                                legend class="sr-only" { "Décision pour " (h.client_id) " " (h.role) }
                                                input type="radio" id={ "c-" (h.id) } name={ "d-" (h.id) } value="confirm" checked[*d == Some(ReviewDecision::Confirm)];
                                                label for={ "c-" (h.id) } class="inline" { "Confirmer" }
                                                input type="radio" id={ "w-" (h.id) } name={ "d-" (h.id) } value="withdraw" checked[*d == Some(ReviewDecision::Withdraw)];
                                                label for={ "w-" (h.id) } class="inline" { "Retirer" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        button type="submit" name="action" value="save" class="secondary" { "Enregistrer" }
                        button type="submit" name="action" value="complete" { "Enregistrer et terminer la revue" }
                    }
                } @else {
                    p { "Revue en cours chez le partenaire : " (r.decisions.len()) " décision(s) sur " (items.len()) "." }
                }
            }
        }
    };
    render(
        &format!("Revue annuelle du {}", day(r.started_at)),
        &user,
        body,
    )
}

pub(super) async fn decide(
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
        let id = review_id(&id)?;
        for (name, value) in &fields {
            let Some(h) = name.strip_prefix("d-") else {
                continue;
            };
            let h = HabilitationId::parse(h)
                .map_err(|_| HabilitationError::NotFound("habilitation"))?;
            let decision = match value.as_str() {
                "confirm" => ReviewDecision::Confirm,
                "withdraw" => ReviewDecision::Withdraw,
                _ => return Err(HabilitationError::Invalid("Décision inconnue.".into())),
            };
            review::decide(&state, &user.actor, &id, &h, decision).await?;
        }
        if field(&fields, "action") == Some("complete") {
            review::complete(&state, &user.actor, &id).await?;
        }
        Ok(id)
    }
    .await;
    match result {
        Ok(id) => Redirect::to(&format!("/console/revues/{id}?fait=revue")).into_response(),
        Err(e) => failure(e),
    }
}

pub(super) async fn report(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
) -> Response {
    let user = match console_user(&state, &jar).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result = async {
        let id = review_id(&id)?;
        let (r, _) = review::get(&state, &user.actor, &id).await?;
        r.report.ok_or_else(|| {
            HabilitationError::Conflict(
                "Cette revue n'est pas terminée : pas encore de rapport.".into(),
            )
        })
    }
    .await;
    match result {
        Ok(report) => (
            [
                (header::CONTENT_TYPE, "application/jose"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"revue-inverse.jws\"",
                ),
            ],
            report,
        )
            .into_response(),
        Err(e) => failure(e),
    }
}
