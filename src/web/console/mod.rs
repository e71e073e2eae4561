//! The administration console: server-rendered pages in French, without script, for Caf
//! habilitation officers, partner administrators, delegated managers, security officers and
//! national operators. Every page and form goes through `habilitations::manage`, which checks
//! the actor's rights; the pages only hide the forms an actor could not use anyway.
//!
//! Access requires a session that gave a second factor when the configuration demands one of
//! administrators (`credentials.mfa_for_administrators`).

mod alerts;
mod annexe1;
mod catalog;
mod forms;
mod group;
mod history;
mod partner;
mod person;
mod person_access;
mod requests;
mod review;
mod search;
mod security;
mod tokens;
mod trace_requests;
mod traces;

use super::error::PageResult;
pub(in crate::web) use super::extract::ConsoleUser;
use crate::habilitations::access::{self, Action};
use crate::habilitations::{Actor, HabilitationError, PartnerContext};
use crate::state::AppState;
use crate::store::AdminRole;
use axum::Router;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use maud::{Markup, html};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/recherche", get(search::show))
        .route("/console/demandes", get(requests::show))
        .route("/console/demandes/{id}", post(requests::decide))
        .route("/console/partenaires/{id}/demandes", post(requests::file))
        .route("/console/traces", get(traces::show))
        .route("/console/securite", get(security::show))
        .route("/console/alertes", get(alerts::show))
        .route(
            "/console/demandes-de-traces",
            get(trace_requests::show).post(trace_requests::file),
        )
        .route(
            "/console/demandes-de-traces/{id}",
            post(trace_requests::answer),
        )
        .route(
            "/console/demandes-de-traces/{id}/export",
            get(trace_requests::export),
        )
        .route("/console/alertes/{id}/acquitter", post(alerts::acknowledge))
        .route("/console/attestations/{id}", get(traces::attestation))
        .route("/console/effacements/{id}", get(traces::erasure))
        .route("/console/jetons", get(tokens::show).post(tokens::create))
        .route("/console/jetons/revoquer", post(tokens::revoke))
        .route("/console/partenaires", post(partner::create_partner))
        .route("/console/partenaires/{id}", get(partner::show))
        .route(
            "/console/partenaires/{id}/conventions",
            post(partner::create_convention),
        )
        .route(
            "/console/conventions/{id}/resiliation",
            post(partner::terminate_convention),
        )
        .route(
            "/console/partenaires/{id}/personnes",
            post(partner::create_person),
        )
        .route(
            "/console/partenaires/{id}/habilitations",
            post(partner::grant),
        )
        .route(
            "/console/partenaires/{id}/groupes",
            post(partner::create_group),
        )
        .route("/console/partenaires/{id}/revues", post(review::start))
        .route(
            "/console/partenaires/{id}/annexe1",
            get(annexe1::show).post(annexe1::import),
        )
        .route("/console/conventions/{id}/quota", post(partner::set_quota))
        .route(
            "/console/conventions/{id}/interlocuteurs",
            post(partner::contacts),
        )
        .route("/console/conventions/{id}/mode", post(partner::set_mode))
        .route(
            "/console/conventions/{id}/roles",
            post(partner::subscribed_roles),
        )
        .route(
            "/console/habilitations/{id}/statut",
            post(partner::change_status),
        )
        .route(
            "/console/personnes/{id}",
            get(person::show).post(person::update),
        )
        .route(
            "/console/personnes/{id}/compte",
            post(person::account_action),
        )
        .route("/console/personnes/{id}/designation", post(person::appoint))
        .route(
            "/console/personnes/{id}/acces",
            post(person_access::access_action),
        )
        .route(
            "/console/personnes/{id}/second-facteur",
            post(person_access::reset_second_factor),
        )
        .route(
            "/console/personnes/{id}/delegations",
            post(person::delegations),
        )
        .route("/console/groupes/{id}", get(group::show))
        .route("/console/groupes/{id}/membres", post(group::members))
        .route("/console/groupes/{id}/fermer", post(group::close))
        .route(
            "/console/revues/{id}",
            get(review::show).post(review::decide),
        )
        .route("/console/revues/{id}/rapport", get(review::report))
        .route("/console/revues/{id}/rapport/jws", get(review::report_jws))
        .route(
            "/console/revues/verifier",
            get(review::verify_form).post(review::verify),
        )
        .layer(axum::middleware::from_fn(crate::web::error::remember_page))
}

/// A person's profile as the console's forms post it.
#[derive(serde::Deserialize)]
pub(super) struct PersonForm {
    pub email: Option<String>,
    pub civility: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub function: Option<String>,
}

impl PersonForm {
    /// The fields checked; `email` when the address is not the form's to change.
    pub fn fields(
        &self,
        email: Option<&str>,
    ) -> Result<crate::habilitations::manage::PersonFields, HabilitationError> {
        crate::habilitations::manage::PersonFields::parse(
            email.or(self.email.as_deref()).unwrap_or(""),
            self.civility.as_deref(),
            self.given_name.as_deref().unwrap_or(""),
            self.family_name.as_deref().unwrap_or(""),
            self.function.as_deref(),
        )
    }
}

/// The confirmation a destructive action asks for: what will happen, in a sentence, and the
/// same form posted again with `confirme=oui` (its fields carried as they were), or a way back.
pub(super) fn confirm_page(
    user: &ConsoleUser,
    title: &str,
    what: Markup,
    action: &str,
    raw: &[(String, String)],
    cancel: &str,
) -> PageResult {
    let body = html! {
        div class="error" role="alert" { p { (what) } }
        @if let Some((_, reason)) = raw.iter().find(|(k, v)| k == "reason" && !v.trim().is_empty()) {
            p { "Motif : " (reason) }
        }
        form method="post" action=(action) {
            (hidden_csrf(user))
            @for (name, value) in raw.iter().filter(|(k, _)| k != "csrf" && k != "confirme") {
                input type="hidden" name=(name) value=(value);
            }
            input type="hidden" name="confirme" value="oui";
            button type="submit" { "Confirmer" }
            " "
            a href=(cancel) { "Annuler" }
        }
    };
    render(title, user, body)
}

/// A form that carries nothing but the reason of a change.
#[derive(serde::Deserialize)]
pub(super) struct ReasonForm {
    pub reason: Option<String>,
}

/// The console frame with the navigation of its user.
pub(super) fn page(title: &str, user: Option<&ConsoleUser>, body: Markup) -> Markup {
    let nav = user.map(|u| {
        html! {
                nav aria-label="Console" {
                    ul class="nav" {
                        li { a href="/console" { "Accueil" } }
                        li { a href="/console/recherche" { "Rechercher" } }
                        @if [AdminRole::CafHabilitationOfficer, AdminRole::NationalOperator, AdminRole::PartnerAdministrator, AdminRole::PartnerSubstitute, AdminRole::DelegatedManager].iter().any(|r| u.actor.holds(*r)) {
                            li { a href="/console/demandes" { "Demandes" } }
                        }
                        @if u.actor.holds(AdminRole::SecurityOfficer) || u.actor.holds(AdminRole::NationalOperator) {
                            li { a href="/console/securite" { "Sécurité" } }
                            li { a href="/console/alertes" { "Alertes" } }
                            li { a href="/console/demandes-de-traces" { "Demandes de traces" } }
                            li { a href="/console/traces" { "Traces" } }
                        }
                        li { a href="/console/jetons" { "Jetons d'API" } }
                        li { a href="/compte" { "Mon compte" } }
                        li { (u.actor.account.profile.given_name) " " (u.actor.account.profile.family_name) }
                        li class="session-end" { "Sans activité, fin de session à " (crate::labels::paris_time(u.session_ends_at)) }
                        li {
                            form method="post" action="/logout" class="logout" {
                                (hidden_csrf(u))
                                button type="submit" { "Se déconnecter" }
                            }
                        }
                    }
                }
        }
    });
    super::frame::console(title, nav, body)
}

/// Whether the actor may do `action` (to decide which forms to show).
pub(super) fn may(actor: &Actor, context: &PartnerContext, action: Action<'_>) -> bool {
    access::check(actor, context, action).is_ok()
}

pub(super) fn render(title: &str, user: &ConsoleUser, body: Markup) -> PageResult {
    Ok(Html(page(title, Some(user), body).into_string()).into_response())
}

/// The confirmation shown after a change (`?fait=KEY` in the redirect).
pub(super) fn done_message(key: Option<&str>) -> Markup {
    let text = match key {
        Some("personne") => {
            "La personne a été créée ; elle reçoit un lien d'activation par courriel."
        }
        Some("habilitation") => "L'habilitation a été attribuée.",
        Some("statut") => "Le statut de l'habilitation a été modifié.",
        Some("groupe") => "Le groupe a été créé.",
        Some("membres") => "Les membres du groupe ont été modifiés.",
        Some("quota") => "Le quota a été enregistré.",
        Some("convention") => "La convention a été enregistrée.",
        Some("roles") => {
            "Les rôles souscrits de la convention sont enregistrés : seuls ceux-là peuvent être attribués."
        }
        Some("mode") => "Le mode de gestion a été changé.",
        Some("profil") => "Le profil a été corrigé.",
        Some("compte-suspendu") => {
            "Le compte est suspendu : la personne ne peut plus se connecter, ses sessions ont pris fin, et elle en est prévenue par courriel."
        }
        Some("compte-reactive") => {
            "Le compte est réactivé : la personne peut de nouveau se connecter, et elle en est prévenue."
        }
        Some("compte-ferme") => {
            "Le compte est fermé (départ) : ses habilitations sont retirées et la personne en est prévenue."
        }
        Some("mot-de-passe-demande") => {
            "La personne devra choisir un nouveau mot de passe à sa prochaine connexion ; elle en est prévenue."
        }
        Some("designation") => "La désignation a été enregistrée.",
        Some("delegations") => "Les délégations ont été enregistrées.",
        Some("revue") => "La revue a été enregistrée.",
        Some("annexe1") => "L'annexe 1 a été appliquée.",
        Some("jeton") => "Le jeton a été révoqué.",
        Some("interlocuteurs") => {
            "Les interlocuteurs de la convention sont enregistrés ; les courriels aux personnes les nomment désormais."
        }
        Some("demande") => {
            "La demande est envoyée à la Caf, qui en est avertie par courriel ; vous recevrez sa décision par courriel."
        }
        Some("demande-acceptee") => {
            "La demande est acceptée et réalisée ; le demandeur en est averti par courriel."
        }
        Some("demande-refusee") => {
            "La demande est refusée ; le demandeur reçoit votre motif par courriel."
        }
        Some("demande-retiree") => "La demande est retirée.",
        Some("demande-traces") => {
            "La demande est envoyée à la Caf, dont les responsables sécurité sont avertis par courriel ; vous recevrez sa réponse par courriel."
        }
        Some("traces-jointes") => {
            "L'export des traces est joint à la demande ; le demandeur en est averti par courriel."
        }
        Some("demande-traces-refusee") => {
            "La demande est refusée ; le demandeur reçoit votre message par courriel."
        }
        Some("alerte") => "L'alerte est acquittée ; votre commentaire l'accompagne.",
        Some("facteur") => {
            "Le second facteur est retiré : la personne en enrôlera un nouveau à sa prochaine connexion."
        }
        Some("deverrouillage") => {
            "Le compte est déverrouillé : la personne peut se connecter de nouveau."
        }
        Some("sessions") => "Les sessions de la personne ont pris fin sur tous ses appareils.",
        Some("activation") => {
            "Un nouveau lien d'activation est envoyé ; les précédents ne valent plus."
        }
        _ => return html! {},
    };
    // At the top of the page, and focused: the redirect ends in `#message`.
    html! { div class="info" id="message" role="status" tabindex="-1" autofocus { p { (text) } } }
}

/// A time as people read it: in Paris, the zone named.
pub(super) fn when(ts: i64) -> String {
    format!("{} ({})", crate::labels::paris(ts), crate::labels::ZONE)
}

/// A day in Paris.
pub(super) fn day(ts: i64) -> String {
    crate::labels::paris_day(ts)
}

/// The roles of an account, as its civility says them.
pub(super) fn roles_of(account: &crate::store::Account) -> String {
    account
        .profile
        .admin_roles
        .iter()
        .map(|r| crate::labels::admin_role(*r, account.profile.civility.as_deref()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn hidden_csrf(user: &ConsoleUser) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.csrf); }
}

/// A mandatory reason field.
pub(super) fn reason_field(id: &str, required: bool) -> Markup {
    html! {
        label for=(id) { "Motif" @if !required { span class="hint" { "facultatif" } } }
        @if required {
            input type="text" id=(id) name="reason" required maxlength="500";
        } @else {
            input type="text" id=(id) name="reason" maxlength="500";
        }
    }
}

async fn home(
    axum::extract::State(state): axum::extract::State<AppState>,
    user: ConsoleUser,
) -> PageResult {
    let partners = crate::habilitations::directory::partners(
        &state,
        &user.actor,
        &crate::habilitations::directory::ListParams::default(),
    )
    .await?;
    let overdue = crate::habilitations::review::overdue(&state, &user.actor).await?;
    let cafs = state.stores.organisations.list_cafs().await?;
    let national = user.actor.holds(AdminRole::NationalOperator);
    let own_caf = user.actor.account.profile.caf.clone();
    let registrable: Vec<_> = cafs
        .iter()
        .filter(|c| {
            national
                || user.actor.holds(AdminRole::CafHabilitationOfficer)
                    && own_caf.as_ref() == Some(&c.code)
        })
        .collect();
    let roles = roles_of(&user.actor.account);
    let body = html! {
        p { "Vous agissez en tant " (if crate::french::elides(&roles) { "qu'" } else { "que " }) strong { (roles) } "." }
        form method="get" action="/console/recherche" role="search" {
            label for="home-q" { "Rechercher" span class="hint" { "un partenaire (nom, commune, SIRET), une personne (nom, adresse, fonction) ou ses habilitations" } }
            input type="search" id="home-q" name="q" maxlength="200";
            button type="submit" { "Rechercher" }
        }
        h2 { "Partenaires" }
        @if partners.items.is_empty() {
            p { "Aucun partenaire dans votre périmètre." }
        } @else {
            table class="stack" {
                caption class="sr-only" { "Partenaires de votre périmètre" }
                thead { tr { th scope="col" { "Partenaire" } th scope="col" { "Commune" } th scope="col" { "SIRET" } th scope="col" { "Caf" } } }
                tbody {
                    @for p in &partners.items {
                        tr {
                            td data-label="Partenaire" { a href={ "/console/partenaires/" (p.id) } { (p.name) } }
                            td data-label="Commune" { (p.commune.as_deref().unwrap_or("—")) }
                            td data-label="SIRET" { (p.siret.as_ref().map(|s| s.to_string()).unwrap_or_else(|| "—".into())) }
                            td data-label="Caf" { (cafs.iter().find(|c| c.code == p.caf).map(|c| c.name.as_str()).unwrap_or(p.caf.as_str())) }
                        }
                    }
                }
            }
            @if partners.next.is_some() {
                p { a href="/console/recherche?type=partenaires" { "Voir tous les partenaires, avec filtres et tri" } }
            }
        }
        @if !registrable.is_empty() {
            form method="post" action="/console/partenaires" {
                (hidden_csrf(&user))
                fieldset {
                    legend { "Enregistrer un partenaire" }
                    label for="np-name" { "Nom" }
                    input type="text" id="np-name" name="name" required maxlength="200";
                    label for="np-id" { "Identifiant" span class="hint" { "lettres minuscules, chiffres et tirets, par exemple ccas-de-niort" } }
                    input type="text" id="np-id" name="id" required maxlength="64" pattern="[a-z0-9-]+";
                    label for="np-siret" { "SIRET" span class="hint" { "facultatif, 14 chiffres" } }
                    input type="text" id="np-siret" name="siret" maxlength="17" inputmode="numeric";
                    label for="np-commune" { "Commune" span class="hint" { "facultatif" } }
                    input type="text" id="np-commune" name="commune" maxlength="100";
                    label for="np-caf" { "Caf" }
                    select id="np-caf" name="caf" { @for c in &registrable { option value=(c.code) { (c.name) } } }
                    button type="submit" { "Enregistrer le partenaire" }
                }
            }
        }
        h2 { "Revues annuelles en retard" }
        @if overdue.is_empty() {
            p { "Aucune revue en retard." }
        } @else {
            ul {
                @for o in &overdue {
                    li {
                        a href={ "/console/partenaires/" (o.partner.id) "#revues" } { (o.partner.name) }
                        " — due depuis le " (day(o.due_since))
                        @match o.last_completed_at {
                            Some(t) => { " (dernière revue le " (day(t)) ")" }
                            None => { " (aucune revue)" }
                        }
                    }
                }
            }
        }
    };
    render("Console des habilitations", &user, body)
}
