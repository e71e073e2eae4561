//! `/console/recherche`: one box over everything in the officer's reach (partners by name,
//! commune or SIRET; people by name, email or function; habilitations by holder), then a list
//! per kind with its filters, sortable columns and pages (`habilitations::directory`).

use super::catalog::Catalog;
use super::{ConsoleUser, render};
use crate::habilitations::directory::{self, ListParams, encode_cursor};
use crate::habilitations::manage;
use crate::state::AppState;
use crate::store::directory::{HabilitationHit, Page, PersonHit};
use crate::store::{Caf, Holder, Partner, Service};
use crate::web::error::PageResult;
use axum::extract::{Query, State};
use maud::{Markup, html};
use std::collections::HashMap;

/// The three lists, by their French names in the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Partners,
    People,
    Habilitations,
}

impl Kind {
    fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            Some("partenaires") => Some(Self::Partners),
            Some("personnes") => Some(Self::People),
            Some("habilitations") => Some(Self::Habilitations),
            _ => None,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Partners => "partenaires",
            Self::People => "personnes",
            Self::Habilitations => "habilitations",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Partners => "Partenaires",
            Self::People => "Personnes",
            Self::Habilitations => "Habilitations",
        }
    }

    /// "Voir toute la liste des personnes trouvées": the past participle agrees.
    fn found(self) -> &'static str {
        match self {
            Self::Partners => "trouvés",
            Self::People | Self::Habilitations => "trouvées",
        }
    }

    /// Sort codes with their French names, the default first.
    fn sorts(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Partners => &[("name", "Nom"), ("commune", "Commune"), ("siret", "SIRET")],
            Self::People => &[
                ("name", "Nom"),
                ("email", "Adresse électronique"),
                ("partner", "Partenaire"),
                ("created", "Date de création"),
            ],
            Self::Habilitations => &[
                ("holder", "Titulaire"),
                ("service", "Service et rôle"),
                ("valid_until", "Fin de validité"),
                ("granted", "Date d'attribution"),
            ],
        }
    }
}

/// The address of this page with `params`, and `changes` applied (an empty value removes).
fn href(kind: Option<Kind>, params: &ListParams, changes: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(k) = kind {
        pairs.push(("type", k.code().to_owned()));
    }
    let fields: [(&str, Option<String>); 11] = [
        ("q", params.q.clone()),
        ("caf", params.caf.clone()),
        ("partner", params.partner.clone()),
        ("state", params.state.clone()),
        ("status", params.status.clone()),
        ("service", params.service.clone()),
        ("role", params.role.clone()),
        (
            "expiring_within",
            params.expiring_within.map(|d| d.to_string()),
        ),
        ("sort", params.sort.clone()),
        ("order", params.order.clone()),
        ("limit", params.limit.map(|l| l.to_string())),
    ];
    for (name, value) in fields {
        let value = changes
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
            .or(value);
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            pairs.push((name, v));
        }
    }
    if let Some((_, after)) = changes.iter().find(|(n, _)| *n == "after") {
        pairs.push(("after", after.to_string()));
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        query.append_pair(k, v);
    }
    format!("/console/recherche?{}", query.finish())
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    let kind = Kind::parse(query.get("type").map(String::as_str));
    let params = ListParams::from_query(&query)?;
    let services = state.stores.services.list_services().await?;
    let catalog = Catalog::new(&services);
    let cafs = state.stores.organisations.list_cafs().await?;
    let body = match kind {
        None => overview(&state, &user, &params, &catalog).await?,
        Some(kind) => {
            let partners = manage::visible_partners(&state, &user.actor).await?;
            let list = match kind {
                Kind::Partners => partner_table(
                    &directory::partners(&state, &user.actor, &params).await?,
                    &cafs,
                ),
                Kind::People => {
                    people_table(&directory::people(&state, &user.actor, &params).await?)
                }
                Kind::Habilitations => habilitation_table(
                    &directory::habilitations(&state, &user.actor, &params).await?,
                    &catalog,
                    state.clock.now(),
                ),
            };
            html! {
                (filters(kind, &params, &partners, &services, &cafs))
                (list(kind, &params, true))
            }
        }
    };
    let title = match kind {
        Some(k) => format!("Recherche — {}", k.title().to_lowercase()),
        None => "Recherche".to_owned(),
    };
    render(&title, &user, body)
}

/// A list's rows and the link to the page after.
type List = Box<dyn Fn(Kind, &ListParams, bool) -> Markup>;

/// The box alone, or its first results in each kind with a link to the whole list.
async fn overview(
    state: &AppState,
    user: &ConsoleUser,
    params: &ListParams,
    catalog: &Catalog<'_>,
) -> Result<Markup, crate::habilitations::HabilitationError> {
    let form = html! {
        form method="get" action="/console/recherche" role="search" {
            label for="s-q" { "Rechercher" span class="hint" { "un partenaire (nom, commune, SIRET), une personne (nom, adresse, fonction) ou les habilitations d'une personne" } }
            input type="search" id="s-q" name="q" value=[params.q.as_deref()] maxlength="200";
            button type="submit" { "Rechercher" }
        }
        p {
            "Ou parcourir : "
            a href="/console/recherche?type=partenaires" { "les partenaires" } ", "
            a href="/console/recherche?type=personnes" { "les personnes" } ", "
            a href="/console/recherche?type=habilitations" { "les habilitations" } " ("
            a href="/console/recherche?type=habilitations&expiring_within=30&sort=valid_until" { "celles qui expirent dans 30 jours" } ")."
        }
    };
    if params.q.as_deref().is_none_or(|q| q.trim().is_empty()) {
        return Ok(form);
    }
    let first = ListParams {
        q: params.q.clone(),
        limit: Some(5),
        ..ListParams::default()
    };
    let cafs = state.stores.organisations.list_cafs().await?;
    let partners = directory::partners(state, &user.actor, &first).await?;
    let people = directory::people(state, &user.actor, &first).await?;
    let habilitations = directory::habilitations(state, &user.actor, &first).await?;
    let all = ListParams {
        q: params.q.clone(),
        ..ListParams::default()
    };
    let section = |kind: Kind, count: usize, more: bool, list: List| {
        html! {
            h2 { (kind.title()) }
            @if count == 0 {
                p { "Aucun résultat." }
            } @else {
                (list(kind, &all, false))
                @if more {
                    p { a href=(href(Some(kind), &all, &[])) { "Voir toute la liste des " (kind.title().to_lowercase()) " " (kind.found()) } }
                }
            }
        }
    };
    Ok(html! {
        (form)
        (section(Kind::Partners, partners.items.len(), partners.next.is_some(), partner_table(&partners, &cafs)))
        (section(Kind::People, people.items.len(), people.next.is_some(), people_table(&people)))
        (section(Kind::Habilitations, habilitations.items.len(), habilitations.next.is_some(), habilitation_table(&habilitations, catalog, state.clock.now())))
    })
}

/// The filter form of a list (a GET form: the address says the search, and can be kept).
fn filters(
    kind: Kind,
    params: &ListParams,
    partners: &[Partner],
    services: &[Service],
    cafs: &[Caf],
) -> Markup {
    let selected = |value: &Option<String>, option: &str| value.as_deref() == Some(option);
    let visible_cafs: Vec<&Caf> = cafs
        .iter()
        .filter(|c| partners.iter().any(|p| p.caf == c.code))
        .collect();
    html! {
        nav aria-label="Listes" {
            ul class="nav inpage" {
                @for k in [Kind::Partners, Kind::People, Kind::Habilitations] {
                    li {
                        @if k == kind { strong aria-current="page" { (k.title()) } }
                        @else { a href={ "/console/recherche?type=" (k.code()) } { (k.title()) } }
                    }
                }
            }
        }
        form method="get" action="/console/recherche" role="search" class="filters" {
            input type="hidden" name="type" value=(kind.code());
            fieldset {
                legend { "Filtrer les " (kind.title().to_lowercase()) }
                div class="fields" {
                div class="wide" {
                label for="f-q" { "Mots recherchés" span class="hint" {
                    @match kind {
                        Kind::Partners => "nom, commune ou SIRET",
                        Kind::People => "nom, adresse électronique ou fonction",
                        Kind::Habilitations => "nom ou adresse du titulaire, nom du groupe, code du rôle",
                    }
                } }
                input type="search" id="f-q" name="q" value=[params.q.as_deref()] maxlength="200";
                }
                @if kind == Kind::Partners && visible_cafs.len() > 1 {
                    div {
                    label for="f-caf" { "Caf" }
                    select id="f-caf" name="caf" {
                        option value="" { "Toutes" }
                        @for c in &visible_cafs { option value=(c.code) selected[selected(&params.caf, c.code.as_str())] { (c.name) } }
                    }
                    }
                }
                @if kind != Kind::Partners && partners.len() > 1 {
                    div {
                    label for="f-partner" { "Partenaire" }
                    select id="f-partner" name="partner" {
                        option value="" { "Tous" }
                        @for p in partners { option value=(p.id) selected[selected(&params.partner, p.id.as_str())] { (p.name) } }
                    }
                    }
                }
                @if kind == Kind::People {
                    div {
                    label for="f-state" { "Compte" }
                    select id="f-state" name="state" {
                        option value="" { "Tous" }
                        @for (code, label) in [("pending", "En attente d'activation"), ("active", "Actif"), ("suspended", "Suspendu"), ("closed", "Fermé")] {
                            option value=(code) selected[selected(&params.state, code)] { (label) }
                        }
                    }
                    }
                }
                @if kind == Kind::Habilitations {
                    div {
                    label for="f-service" { "Service" }
                    select id="f-service" name="service" {
                        option value="" { "Tous" }
                        @for s in services { option value=(s.client_id) selected[selected(&params.service, s.client_id.as_str())] { (s.name) } }
                    }
                    }
                    div {
                    label for="f-role" { "Rôle" }
                    select id="f-role" name="role" {
                        option value="" { "Tous" }
                        @for s in services {
                            optgroup label=(s.name) {
                                @for r in &s.roles { option value=(r.code) selected[selected(&params.role, &r.code)] { (r.display()) } }
                            }
                        }
                    }
                    }
                    div {
                    label for="f-status" { "Statut" }
                    select id="f-status" name="status" {
                        option value="" { "En cours (actives et suspendues)" }
                        @for (code, label) in [("active", "Actives"), ("suspended", "Suspendues"), ("closed", "Retirées")] {
                            option value=(code) selected[selected(&params.status, code)] { (label) }
                        }
                    }
                    }
                    div {
                    label for="f-exp" { "Expirant d'ici" span class="hint" { "nombre de jours" } }
                    input type="number" id="f-exp" name="expiring_within" min="1" max="3650" value=[params.expiring_within];
                    }
                }
                div {
                label for="f-sort" { "Trier par" }
                select id="f-sort" name="sort" {
                    @for (code, label) in kind.sorts() { option value=(code) selected[selected(&params.sort, code)] { (label) } }
                }
                }
                div {
                label for="f-order" { "Ordre" }
                select id="f-order" name="order" {
                    option value="asc" { "Croissant" }
                    option value="desc" selected[selected(&params.order, "desc")] { "Décroissant" }
                }
                }
                }
                button type="submit" { "Afficher" }
            }
        }
    }
}

/// A column header that sorts by `code` (the other order when it already does).
fn sort_header(kind: Kind, params: &ListParams, code: &str, label: &str) -> Markup {
    let current = params.sort.as_deref().unwrap_or(kind.sorts()[0].0) == code;
    let descending = params.order.as_deref() == Some("desc");
    let order = if current && !descending {
        "desc"
    } else {
        "asc"
    };
    let aria = match (current, descending) {
        (false, _) => None,
        (true, false) => Some("ascending"),
        (true, true) => Some("descending"),
    };
    html! {
        th scope="col" aria-sort=[aria] {
            a href=(href(Some(kind), params, &[("sort", code), ("order", order)])) {
                (label)
                @if current { span aria-hidden="true" { @if descending { " ▼" } @else { " ▲" } } }
                span class="sr-only" { " (trier)" }
            }
        }
    }
}

/// The link to the next page, and back to the first.
fn pager(kind: Kind, params: &ListParams, next: Option<String>) -> Markup {
    html! {
        @if next.is_some() || params.after.is_some() {
            nav aria-label="Pages" {
                ul class="nav" {
                    @if params.after.is_some() {
                        li { a href=(href(Some(kind), params, &[])) { "Première page" } }
                    }
                    @if let Some(cursor) = &next {
                        li { a href=(href(Some(kind), params, &[("after", cursor)])) { "Page suivante" } }
                    }
                }
            }
        }
    }
}

fn partner_table(page: &Page<Partner>, cafs: &[Caf]) -> List {
    let rows = page.items.clone();
    let next = page.next.as_ref().map(encode_cursor);
    let cafs: Vec<Caf> = cafs.to_vec();
    Box::new(move |kind, params, paged| {
        let caf_name = |p: &Partner| {
            cafs.iter()
                .find(|c| c.code == p.caf)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| p.caf.to_string())
        };
        html! {
            @if rows.is_empty() { p { "Aucun partenaire ne correspond." } } @else {
                table class="stack" {
                    caption class="sr-only" { "Partenaires trouvés" }
                    thead { tr {
                        (sort_header(kind, params, "name", "Partenaire"))
                        (sort_header(kind, params, "commune", "Commune"))
                        (sort_header(kind, params, "siret", "SIRET"))
                        th scope="col" { "Caf" }
                    } }
                    tbody {
                        @for p in &rows {
                            tr {
                                td data-label="Partenaire" { a href={ "/console/partenaires/" (p.id) } { (p.name) } }
                                td data-label="Commune" { (p.commune.as_deref().unwrap_or("—")) }
                                td data-label="SIRET" { (p.siret.as_ref().map(|s| s.to_string()).unwrap_or_else(|| "—".into())) }
                                td data-label="Caf" { (caf_name(p)) }
                            }
                        }
                    }
                }
            }
            @if paged { (pager(kind, params, next.clone())) }
        }
    })
}

fn people_table(page: &Page<PersonHit>) -> List {
    let rows = page.items.clone();
    let next = page.next.as_ref().map(encode_cursor);
    Box::new(move |kind, params, paged| {
        html! {
            @if rows.is_empty() { p { "Aucune personne ne correspond." } } @else {
                table class="stack" {
                    caption class="sr-only" { "Personnes trouvées" }
                    thead { tr {
                        (sort_header(kind, params, "name", "Nom"))
                        (sort_header(kind, params, "email", "Adresse"))
                        (sort_header(kind, params, "partner", "Partenaire"))
                        th scope="col" { "Fonction" }
                        th scope="col" { "Compte" }
                        th scope="col" { "Rôle d'administration" }
                    } }
                    tbody {
                        @for hit in &rows {
                            @let a = &hit.account;
                            tr {
                                td data-label="Nom" { a href={ "/console/personnes/" (a.id) } { (a.profile.family_name) " " (a.profile.given_name) } }
                                td data-label="Adresse" { (a.profile.email) }
                                td data-label="Partenaire" {
                                    @if let Some(p) = &a.profile.partner { a href={ "/console/partenaires/" (p) } { (hit.partner_name) } }
                                }
                                td data-label="Fonction" { (a.profile.function.as_deref().unwrap_or("—")) }
                                td data-label="Compte" { (manage::account_state_label(a)) }
                                td data-label="Rôle d'administration" {
                                    @let roles = super::roles_of(a);
                                    @if roles.is_empty() { "—" } @else { (roles) }
                                }
                            }
                        }
                    }
                }
            }
            @if paged { (pager(kind, params, next.clone())) }
        }
    })
}

fn habilitation_table(page: &Page<HabilitationHit>, catalog: &Catalog<'_>, now: i64) -> List {
    let rows: Vec<(HabilitationHit, String, String, String)> = page
        .items
        .iter()
        .map(|hit| {
            let h = &hit.habilitation;
            (
                hit.clone(),
                catalog.service(h.client_id.as_str()),
                catalog.role(h.client_id.as_str(), h.role.as_str()),
                super::partner::effect(h, hit.holder_blocked.then_some("suspendu ou fermé"), now),
            )
        })
        .collect();
    let next = page.next.as_ref().map(encode_cursor);
    Box::new(move |kind, params, paged| {
        html! {
            @if rows.is_empty() { p { "Aucune habilitation ne correspond." } } @else {
                table class="stack" {
                    caption class="sr-only" { "Habilitations trouvées" }
                    thead { tr {
                        (sort_header(kind, params, "holder", "Titulaire"))
                        th scope="col" { "Partenaire" }
                        (sort_header(kind, params, "service", "Service et rôle"))
                        th scope="col" { "Périmètre" }
                        (sort_header(kind, params, "valid_until", "Validité"))
                        th scope="col" { "Statut" }
                    } }
                    tbody {
                        @for (hit, service, role, effect) in &rows {
                            @let h = &hit.habilitation;
                            tr {
                                td data-label="Titulaire" {
                                    @match &h.holder {
                                        Holder::Account(id) => {
                                            a href={ "/console/personnes/" (id) } { (hit.holder_name) }
                                            @if let Some(email) = &hit.holder_email { br; span class="hint" { (email) } }
                                        }
                                        Holder::Group(id) => { "groupe " a href={ "/console/groupes/" (id) } { (hit.holder_name) } }
                                    }
                                }
                                td data-label="Partenaire" { a href={ "/console/partenaires/" (h.partner) "#habilitations" } { (hit.partner_name) } }
                                td data-label="Service et rôle" { (service) " — " (role) }
                                td data-label="Périmètre" { @if h.scope.is_empty() { "—" } @else { (h.scope.join(", ")) } }
                                td data-label="Validité" { (super::partner::validity(h)) }
                                td data-label="Statut" { (effect) }
                            }
                        }
                    }
                }
            }
            @if paged { (pager(kind, params, next.clone())) }
        }
    })
}
