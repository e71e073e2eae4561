//! Passkeys in pages: the list of one's passkeys at `/compte/cles-d-acces` (add, name, remove);
//! the form both enrolment and the second login step (`second_step`) carry.
//! The page's script (`/static/passkey.js`) talks to the authenticator; everything else is a
//! form post, so that the CSP keeps `connect-src 'none'`.

use super::error::{PageError, PageResult};
use super::extract::CsrfForm;
use super::{browser, wide_page};
use crate::accounts::passkey::{PasskeyRefusal, Passkeys};
use crate::flow::ACR_MFA;
use crate::state::AppState;
use crate::store::{Account, Outcome};
use crate::traces::Event;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use maud::{Markup, html};
use serde::Deserialize;

pub const SCRIPT: &str = include_str!("passkey.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/compte/cles-d-acces", get(list).post(add))
        .route("/compte/cles-d-acces/retirer", post(remove))
}

/// The longest name a person may give a passkey.
const NAME_MAX: usize = 60;

#[derive(Deserialize)]
struct RequestQuery {
    request: Option<String>,
}

pub(super) fn relying_party(state: &AppState) -> PageResult<&Passkeys> {
    state.passkeys.as_ref().ok_or_else(|| {
        super::error::error_page(
            StatusCode::NOT_FOUND,
            "Clés d'accès indisponibles",
            "Les clés d'accès demandent que Passerelle soit servie sous un nom de domaine (et non une adresse IP).",
            "Utilisez votre application d'authentification.",
        )
        .into()
    })
}

/// A ceremony as a page carries it: the options for the browser and the id of its state.
pub(super) struct Started<'a> {
    pub(super) options: &'a str,
    pub(super) id: &'a str,
}

/// The form whose submission asks the authenticator (`kind`: `create` or `get`).
pub(super) fn ceremony_form(
    action: &str,
    kind: &str,
    ceremony: Started<'_>,
    csrf: &str,
    request: Option<&str>,
    fields: Markup,
    label: &str,
) -> Markup {
    html! {
        form method="post" action=(action) data-passkey=(kind) data-options=(ceremony.options) {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="ceremony" value=(ceremony.id);
            input type="hidden" name="answer" value="";
            @if let Some(r) = request { input type="hidden" name="request" value=(r); }
            (fields)
            p class="hint" data-passkey-status aria-live="polite" {}
            button type="submit" { (label) }
        }
        script src="/static/passkey.js" defer {}
    }
}

async fn render_list(
    state: &AppState,
    jar: CookieJar,
    account: &Account,
    request: Option<&str>,
    status: StatusCode,
    message: Option<(&str, &str)>,
) -> PageResult {
    let passkeys_of = state.stores.passkeys.passkeys_of(&account.id).await?;
    let (jar, browser_id) = browser::ensure(state, jar);
    let csrf = browser::csrf_for(state, &browser_id);
    let now = state.clock.now();
    let short = |ts: i64| crate::labels::paris_recent(ts, now);
    let enrolment = match &state.passkeys {
        Some(rp) => Some(
            rp.start_enrolment(&state.stores, state.clock.now(), account)
                .await?,
        ),
        None => None,
    };
    let body = html! {
        @if let Some((class, text)) = message {
            div class=(class) role=(if class == "error" { "alert" } else { "status" }) id="message" tabindex="-1" autofocus { p { (text) } }
        }
        @if request.is_some() && message.is_none() {
            div class="info" role="status" { p { "Ce service demande un second facteur : ajoutez une clé d'accès pour continuer." } }
        }
        p { "Une clé d'accès (passkey) remplace le code à 6 chiffres : votre téléphone, votre ordinateur ou une clé de sécurité USB prouve que c'est vous, après votre empreinte, votre visage ou votre code PIN. Elle ne fonctionne que sur Passerelle : un faux site ne peut pas s'en servir." }
        @if passkeys_of.is_empty() {
            p { "Vous n'avez encore aucune clé d'accès." }
        } @else {
            p class="hint" { "Heures de Paris." }
            table class="stack" {
                thead { tr { th scope="col" { "Nom" } th scope="col" { "Ajoutée" } th scope="col" { "Dernière utilisation" } th scope="col" { span class="hint" { "Action" } } } }
                tbody {
                    @for p in &passkeys_of {
                        tr {
                            td data-label="Nom" { (p.name) }
                            td data-label="Ajoutée" { (short(p.created_at)) }
                            td data-label="Dernière utilisation" { @match p.last_used_at { Some(t) => (short(t)), None => "jamais" } }
                            td data-label="Action" {
                                form method="post" action="/compte/cles-d-acces/retirer" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    input type="hidden" name="id" value=(p.id);
                                    button type="submit" class="secondary" { "Retirer" span class="sr-only" { " la clé « " (p.name) " »" } }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Ajouter une clé d'accès" }
        @match &enrolment {
            Some((options, ceremony)) => {
                (ceremony_form("/compte/cles-d-acces", "create", Started { options, id: ceremony }, &csrf, request, html! {
                    label for="nom" { "Nom de la clé" }
                    p class="hint" id="nom-aide" { "Pour la reconnaître, par exemple « Téléphone » ou « Clé USB du bureau »." }
                    input type="text" id="nom" name="name" required maxlength=(NAME_MAX) autocomplete="off" aria-describedby="nom-aide";
                }, "Ajouter une clé d'accès"))
            }
            None => p { "Les clés d'accès demandent que Passerelle soit servie sous un nom de domaine : elles ne sont pas disponibles à cette adresse." }
        }
        p { a href="/compte" { "Retour à mon compte" } }
    };
    Ok((
        status,
        jar,
        Html(wide_page("Mes clés d'accès", body).into_string()),
    )
        .into_response())
}

async fn list(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<RequestQuery>,
) -> PageResult {
    let (_, account) = super::account::signed_in(&state, &jar).await?;
    render_list(
        &state,
        jar,
        &account,
        q.request.as_deref(),
        StatusCode::OK,
        None,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct CeremonyForm {
    pub(super) request: Option<String>,
    pub(super) ceremony: Option<String>,
    pub(super) answer: Option<String>,
    pub(super) name: Option<String>,
}

async fn add(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<CeremonyForm>,
) -> PageResult {
    let (session, account) = super::account::signed_in(&state, &jar).await?;
    let rp = relying_party(&state)?;
    let request = form.request.as_deref();
    let name = form.name.as_deref().unwrap_or_default().trim();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        let text = format!("Donnez à la clé un nom de 1 à {NAME_MAX} caractères.");
        return render_list(
            &state,
            jar,
            &account,
            request,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(("error", &text)),
        )
        .await;
    }
    let added = rp
        .finish_enrolment(
            &state.stores,
            state.clock.now(),
            &account,
            form.ceremony.as_deref().unwrap_or_default(),
            form.answer.as_deref().unwrap_or_default(),
            name,
        )
        .await?;
    let (passkey, amr) = match added {
        Ok(p) => p,
        Err(refusal) => {
            let text = match refusal {
                PasskeyRefusal::Known => "Cette clé d'accès est déjà enregistrée.",
                _ => {
                    "La clé d'accès n'a pas pu être ajoutée (réponse invalide ou délai dépassé) : réessayez."
                }
            };
            return render_list(
                &state,
                jar,
                &account,
                request,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(("error", text)),
            )
            .await;
        }
    };
    tracing::info!(account = %account.id, passkey = %passkey.id, "passkey added");
    state
        .tracer
        .record(
            Event::new("credential.passkey", Outcome::Success)
                .account(&account)
                .session(&session.sid)
                .target(&passkey.id),
        )
        .await;
    if request.is_some() {
        // Enrolled on the way to a service that asked for a second factor: the key just
        // proved itself (user verification required), the login goes on.
        state
            .stores
            .sessions
            .upgrade_session(&session.sid, ACR_MFA, &["pwd".to_owned(), amr.to_owned()])
            .await?;
        let session = super::session::current(&state, &jar)
            .await?
            .ok_or_else(PageError::login)?;
        return super::login::continue_request(&state, jar, &account, &session, request).await;
    }
    render_list(
        &state,
        jar,
        &account,
        None,
        StatusCode::OK,
        Some(("info", &format!("La clé « {} » est ajoutée.", passkey.name))),
    )
    .await
}

#[derive(Deserialize)]
struct RemoveForm {
    id: Option<String>,
}

async fn remove(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<RemoveForm>,
) -> PageResult {
    let (session, account) = super::account::signed_in(&state, &jar).await?;
    let id = form.id.unwrap_or_default();
    if state
        .stores
        .passkeys
        .remove_passkey(&account.id, &id)
        .await?
    {
        state
            .tracer
            .record(
                Event::new("credential.passkey_removed", Outcome::Success)
                    .account(&account)
                    .session(&session.sid)
                    .target(&id),
            )
            .await;
    }
    Ok(Redirect::to("/compte/cles-d-acces").into_response())
}
