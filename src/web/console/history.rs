//! A partner's history as people read it: who did what to whom, in a sentence, with the time
//! in Paris and the reason. The change log keeps codes and references; the names are looked
//! up here, at the edge, from what the page already loaded (and the authors outside the
//! partner, such as the Caf's officers, from the store).

use crate::labels;
use crate::state::AppState;
use crate::store::{
    Account, AdminRole, ChangeRecord, Convention, Delegation, Group, Habilitation,
    HabilitationMode, Holder, Partner, Service, StoreResult,
};
use maud::{Markup, html};
use std::collections::HashMap;

/// Everything a sentence may name, by reference.
pub(super) struct Names<'a> {
    accounts: HashMap<String, Account>,
    groups: HashMap<&'a str, &'a Group>,
    catalog: super::catalog::Catalog<'a>,
    conventions: HashMap<&'a str, &'a Convention>,
    habilitations: HashMap<String, &'a Habilitation>,
    partner: &'a Partner,
}

impl<'a> Names<'a> {
    /// The names of the page's records, and of the authors of `changes` who are not the
    /// partner's people.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn load(
        state: &AppState,
        partner: &'a Partner,
        accounts: &[Account],
        groups: &'a [Group],
        services: &'a [Service],
        conventions: &'a [Convention],
        habilitations: &'a [Habilitation],
        changes: &[ChangeRecord],
    ) -> StoreResult<Self> {
        let mut known: HashMap<String, Account> = accounts
            .iter()
            .map(|a| (a.id.as_str().to_owned(), a.clone()))
            .collect();
        for c in changes {
            if labels::system_author(&c.actor).is_none() && !known.contains_key(&c.actor) {
                let id = crate::types::AccountId::from_stored(c.actor.clone());
                if let Some(a) = state.stores.accounts.get_account(&id).await? {
                    known.insert(c.actor.clone(), a);
                }
            }
        }
        Ok(Self {
            accounts: known,
            groups: groups.iter().map(|g| (g.id.as_str(), g)).collect(),
            catalog: super::catalog::Catalog::new(services),
            conventions: conventions.iter().map(|c| (c.id.as_str(), c)).collect(),
            habilitations: habilitations
                .iter()
                .map(|h| (h.id.to_string(), h))
                .collect(),
            partner,
        })
    }

    fn person(&self, id: &str) -> Markup {
        match self.accounts.get(id) {
            Some(a) if a.profile.partner.as_ref() == Some(&self.partner.id) => html! {
                a href={ "/console/personnes/" (a.id) } { (a.profile.given_name) " " (a.profile.family_name) }
            },
            Some(a) => html! { (a.profile.given_name) " " (a.profile.family_name) },
            None => html! { "quelqu'un dont le compte a été effacé depuis" },
        }
    }

    fn author(&self, reference: &str) -> Markup {
        if let Some(system) = labels::system_author(reference) {
            return html! { (capitalised(system)) };
        }
        match self.accounts.get(reference) {
            Some(a) => {
                let role = a
                    .profile
                    .admin_roles
                    .first()
                    .map(|r| labels::admin_role(*r, a.profile.civility.as_deref()));
                html! {
                    (self.person(reference))
                    @if let Some(role) = role { " (" (role) ")" }
                }
            }
            None => html! { "Quelqu'un dont le compte a été effacé depuis" },
        }
    }

    fn civility(&self, id: &str) -> Option<&str> {
        self.accounts
            .get(id)
            .and_then(|a| a.profile.civility.as_deref())
    }

    /// "le groupe « X »", or with `à`/`de` contracted: "au groupe", "du groupe".
    fn group(&self, preposition: &str, id: &str) -> Markup {
        let article = match preposition {
            "à" => "au groupe",
            "de" => "du groupe",
            _ => "le groupe",
        };
        match self.groups.get(id) {
            Some(g) => {
                html! { (article) " « " a href={ "/console/groupes/" (g.id) } { (g.name) } " »" }
            }
            None => html! { (article) " effacé" },
        }
    }

    /// A holder after `à` or `de`: "à Sophie Lambert", "au groupe « X »".
    fn holder(&self, preposition: &str, holder: &Holder) -> Markup {
        match holder {
            Holder::Account(a) => html! { (preposition) " " (self.person(a.as_str())) },
            Holder::Group(g) => self.group(preposition, g.as_str()),
        }
    }

    fn service(&self, client_id: &str) -> String {
        self.catalog.service(client_id)
    }

    /// « Contributeur » du service Coopération.
    fn role(&self, client_id: &str, role: &str) -> String {
        format!(
            "« {} » du service {}",
            self.catalog.role_label(client_id, role),
            self.service(client_id)
        )
    }

    fn convention(&self, id: &str) -> String {
        self.conventions
            .get(id)
            .map(|c| format!("la convention {}", c.number))
            .unwrap_or_else(|| "une convention".to_owned())
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn text<'v>(detail: &'v serde_json::Value, key: &str) -> &'v str {
    detail.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

/// What was done, after its author: "a suspendu le compte de Sophie Lambert".
fn deed(c: &ChangeRecord, n: &Names) -> Markup {
    let (kind, reference) = c.target.split_once(':').unwrap_or(("", ""));
    let d = &c.detail;
    let person = || n.person(reference);
    match c.action.as_str() {
        "account.create" => html! { "a créé le compte de " (person()) },
        "account.update" => html! { "a corrigé le profil de " (person()) },
        "account.suspend" => html! { "a suspendu le compte de " (person()) },
        "account.reactivate" => html! { "a réactivé le compte de " (person()) },
        "account.close" => html! { "a fermé le compte de " (person()) " (départ)" },
        "account.unlock" => html! { "a déverrouillé le compte de " (person()) },
        "account.reset_second_factor" => {
            html! { "a réinitialisé le second facteur de " (person()) " (nouvel enrôlement à la prochaine connexion)" }
        }
        "account.end_sessions" => html! { "a mis fin aux sessions de " (person()) },
        "account.resend_activation" => {
            html! { "a renvoyé le lien d'activation à " (person()) }
        }
        "account.force_password_change" => {
            html! { "a demandé à " (person()) " de changer de mot de passe" }
        }
        "administrators.appoint" | "administrators.remove" => {
            let role = serde_json::from_value::<AdminRole>(d["role"].clone())
                .map(|r| labels::admin_role(r, n.civility(reference)))
                .unwrap_or("administrateur");
            if c.action == "administrators.appoint" {
                html! { "a désigné " (person()) " " (role) }
            } else {
                html! { "a mis fin à la désignation de " (person()) " comme " (role) }
            }
        }
        "delegated_manager.name" => {
            let delegations: Vec<Delegation> =
                serde_json::from_value(d["delegations"].clone()).unwrap_or_default();
            let manager = labels::admin_role(AdminRole::DelegatedManager, n.civility(reference));
            if delegations.is_empty() {
                html! { "a retiré à " (person()) " le rôle de " (manager) }
            } else {
                let what: Vec<String> = delegations
                    .iter()
                    .map(|del| match &del.role {
                        Some(r) => n.role(del.client_id.as_str(), r.as_str()),
                        None => format!(
                            "tous les rôles du service {}",
                            n.service(del.client_id.as_str())
                        ),
                    })
                    .collect();
                html! { "a nommé " (person()) " " (manager) " pour " (what.join(", ")) }
            }
        }
        "convention.create" => html! { "a enregistré " (n.convention(reference)) },
        "convention.edit" => {
            let roles: Vec<String> = d["roles"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str()?.split_once('|'))
                        .map(|(client, role)| n.role(client, role))
                        .collect()
                })
                .unwrap_or_default();
            html! {
                "a corrigé " (n.convention(reference))
                @if !roles.is_empty() { " ; rôles souscrits : " (roles.join(", ")) }
            }
        }
        "convention.mode" => {
            let mode = serde_json::from_value::<HabilitationMode>(d["mode"].clone());
            match mode {
                Ok(HabilitationMode::Centralized) => html! {
                    "a retiré la délégation pour " (n.convention(reference)) " : les habilitations passent par la Caf (mode centralisé)"
                },
                _ => html! {
                    "a rétabli la délégation pour " (n.convention(reference)) " : le partenaire gère ses habilitations (mode délégué)"
                },
            }
        }
        "partner.create" => html! { "a enregistré le partenaire " (n.partner.name) },
        "quota.set" => {
            let role = n.role(text(d, "service"), text(d, "role"));
            match d["maximum"].as_u64() {
                Some(m) => html! { "a fixé à " (m) " le nombre de titulaires du rôle " (role) },
                None => html! { "a supprimé le quota du rôle " (role) },
            }
        }
        "group.create" => html! { "a créé " (n.group("", reference)) },
        "group.close" => html! { "a fermé " (n.group("", reference)) },
        "group.add_member" => {
            html! { "a ajouté " (n.person(text(d, "account"))) " " (n.group("à", reference)) }
        }
        "group.remove_member" => {
            html! { "a retiré " (n.person(text(d, "account"))) " " (n.group("de", reference)) }
        }
        "habilitation.grant" => {
            let holder = serde_json::from_value::<Holder>(d["holder"].clone());
            let role = n.role(text(d, "service"), text(d, "role"));
            html! {
                "a attribué "
                @match &holder { Ok(h) => (n.holder("à", h)), Err(_) => "à une personne" }
                " le rôle " (role)
            }
        }
        "habilitation.suspend" | "habilitation.reactivate" | "habilitation.close" => {
            let verb = match c.action.as_str() {
                "habilitation.suspend" => "a suspendu",
                "habilitation.reactivate" => "a réactivé",
                _ => "a retiré",
            };
            let role = n.role(text(d, "service"), text(d, "role"));
            let holder = n
                .habilitations
                .get(reference)
                .map(|h| n.holder("de", &h.holder));
            html! {
                (verb) " le rôle " (role)
                @if let Some(h) = holder { " " (h) }
            }
        }
        "request.file" | "request.approve" | "request.refuse" | "request.cancel" => {
            let kind = labels::request_kind(text(d, "kind"));
            match c.action.as_str() {
                "request.file" => html! { "a demandé à la Caf " (kind) },
                "request.approve" => {
                    html! { "a accepté la demande du partenaire portant sur " (kind) " et l'a réalisée" }
                }
                "request.refuse" => {
                    html! { "a refusé la demande du partenaire portant sur " (kind) }
                }
                _ => html! { "a retiré la demande portant sur " (kind) },
            }
        }
        "review.start" => html! { "a commencé la revue annuelle des habilitations" },
        "review.complete" => html! { "a terminé la revue annuelle des habilitations" },
        "retention.habilitations" => {
            html! { "a effacé les données arrivées au terme de leur durée de conservation" }
        }
        other => html! { "a fait : " (labels::action(other)) " (" (kind) ")" },
    }
}

/// The history table of a partner page.
pub(super) fn table(changes: &[ChangeRecord], names: &Names) -> Markup {
    html! {
        table class="history stack" {
            caption { "Les 20 derniers changements, du plus récent au plus ancien (" (labels::ZONE) ")" }
            thead { tr { th scope="col" { "Date" } th scope="col" { "Ce qui a été fait" } th scope="col" { "Motif" } } }
            tbody {
                @if changes.is_empty() { tr { td colspan="3" { "Aucun changement." } } }
                @for c in changes {
                    tr {
                        td data-label="Date" { (labels::paris(c.at)) }
                        td { (names.author(&c.actor)) " " (deed(c, names)) "." }
                        td data-label="Motif" { (c.reason.as_deref().unwrap_or("—")) }
                    }
                }
            }
        }
    }
}
