//! The conventions of a partner's page: number, offer, services with the roles subscribed,
//! period, mode (and its switch), contacts (and their editing), new convention, termination.

use super::super::catalog::Catalog;
use super::super::{ConsoleUser, hidden_csrf};
use crate::habilitations::PartnerContext;
use crate::store::{Convention, ConventionKind, HabilitationMode, Service};
use maud::{Markup, html};

pub(super) fn section(
    user: &ConsoleUser,
    context: &PartnerContext,
    catalog: &Catalog<'_>,
    all_services: &[Service],
    caf: bool,
    here: &str,
) -> Markup {
    html! {
        h2 id="conventions" { "Conventions" }
        table class="stack" {
            thead { tr { th scope="col" { "Numéro" } th scope="col" { "Offre" } th scope="col" { "Services" } th scope="col" { "Période" } th scope="col" { "Mode" } } }
            tbody {
                @for c in &context.conventions {
                    tr {
                        td data-label="Numéro" { (c.number) }
                        td data-label="Offre" { (c.kind.label()) }
                        td data-label="Services" {
                            @for (i, s) in c.services.iter().enumerate() {
                                @if i > 0 { br; }
                                (catalog.service(s.as_str()))
                                @let subscribed: Vec<String> = c.roles.iter().filter(|r| &r.service == s).map(|r| catalog.role(s.as_str(), r.role.as_str())).collect();
                                @if subscribed.is_empty() { " (tous les rôles)" } @else { " : " (subscribed.join(", ")) }
                            }
                        }
                        td data-label="Période" {
                            "depuis le " (c.starts_on.format("%d/%m/%Y"))
                            @if let Some(t) = c.terminated_on { ", résiliée au " (t.format("%d/%m/%Y")) }
                            @else { ", renouvellement tacite le " (c.current_period_end(context.today).format("%d/%m/%Y")) }
                            @if !c.in_force_on(context.today) { " (pas en vigueur)" }
                        }
                        td data-label="Mode" {
                            strong { (c.mode.label()) }
                            @if caf {
                                form method="post" action={ "/console/conventions/" (c.id) "/mode" } class="inline" {
                                    (hidden_csrf(user))
                                    input type="hidden" name="mode" value=(match c.mode { HabilitationMode::Delegated => "centralise", HabilitationMode::Centralized => "delegue" });
                                    label for={ "mode-" (c.id) } class="sr-only" { "Motif du changement de mode" }
                                    input type="text" id={ "mode-" (c.id) } name="reason" required maxlength="500" placeholder="Motif (obligatoire)";
                                    button type="submit" class="secondary" {
                                        @match c.mode {
                                            HabilitationMode::Delegated => "Retirer la délégation",
                                            HabilitationMode::Centralized => "Rétablir la délégation",
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if !c.contacts.is_empty() || caf {
                        tr {
                            td colspan="5" {
                                "Interlocuteurs"
                                @if c.contacts.is_empty() { " : aucun." }
                                ul {
                                    @for (i, contact) in c.contacts.iter().enumerate() {
                                        li {
                                            (contact.role.label()) " " (match contact.side { crate::store::ContactSide::Partner => "du partenaire", crate::store::ContactSide::Caf => "de la Caf" }) " : " (contact.name)
                                            @if let Some(e) = &contact.email { " (" (e) ")" }
                                            @if let Some(p) = &contact.phone { " — " (p) }
                                            @if caf {
                                                form method="post" action={ "/console/conventions/" (c.id) "/interlocuteurs" } class="inline" {
                                                    (hidden_csrf(user))
                                                    input type="hidden" name="index" value=(i);
                                                    button type="submit" name="action" value="remove" class="secondary" { "Retirer" span class="sr-only" { " " (contact.name) " des interlocuteurs de la convention " (c.number) } }
                                                }
                                            }
                                        }
                                    }
                                }
                                @if caf {
                                    details {
                                        summary { "Ajouter un interlocuteur à la convention " (c.number) }
                                        form method="post" action={ "/console/conventions/" (c.id) "/interlocuteurs" } {
                                            (hidden_csrf(user))
                                            input type="hidden" name="action" value="add";
                                            label for={ "ct-side-" (c.id) } { "Côté" }
                                            select id={ "ct-side-" (c.id) } name="side" { option value="partner" { "Partenaire (annexe 2)" } option value="caf" { "Caf (annexe 3)" } }
                                            label for={ "ct-role-" (c.id) } { "Rôle" }
                                            select id={ "ct-role-" (c.id) } name="role" {
                                                option value="habilitation_officer" { "Responsable des habilitations" }
                                                option value="security_officer" { "Responsable sécurité" }
                                                option value="technical_referent" { "Référent technique" }
                                            }
                                            label for={ "ct-name-" (c.id) } { "Nom" }
                                            input type="text" id={ "ct-name-" (c.id) } name="name" required maxlength="100";
                                            label for={ "ct-email-" (c.id) } { "Adresse électronique" span class="hint" { "ou un téléphone" } }
                                            input type="email" id={ "ct-email-" (c.id) } name="email" maxlength="254";
                                            label for={ "ct-phone-" (c.id) } { "Téléphone" span class="hint" { "facultatif" } }
                                            input type="text" id={ "ct-phone-" (c.id) } name="phone" maxlength="30" inputmode="tel";
                                            button type="submit" { "Ajouter l'interlocuteur" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        @if caf {
            details {
                summary { "Ajouter une convention" }
                form method="post" action={ (here) "/conventions" } {
                    (hidden_csrf(user))
                    fieldset {
                        legend { "La nouvelle convention" }
                        label for="c-number" { "Numéro" }
                        input type="text" id="c-number" name="number" required maxlength="64";
                        label for="c-kind" { "Offre" }
                        select id="c-kind" name="kind" {
                            @for k in ConventionKind::ALL { option value=(k.as_str()) { (k.label()) } }
                        }
                        (role_choices(all_services, "c-r", None))
                        label for="c-start" { "Date de début" }
                        input type="date" id="c-start" name="starts_on" required;
                        label for="c-mode" { "Mode de gestion des habilitations" }
                        select id="c-mode" name="mode" { option value="delegue" { "délégué" } option value="centralise" { "centralisé" } }
                        button type="submit" { "Ajouter la convention" }
                    }
                }
            }
            @for c in context.conventions.iter().filter(|c| c.terminated_on.is_none()) {
                details {
                    summary { "Modifier les rôles souscrits de la convention " (c.number) }
                    form method="post" action={ "/console/conventions/" (c.id) "/roles" } {
                        (hidden_csrf(user))
                        p class="hint" { "Un service dont aucun rôle n'est coché n'est plus ouvert par la convention ; un rôle encore attribué ne peut pas être décoché." }
                        (role_choices(all_services, &format!("e-{}", c.id), Some(c)))
                        button type="submit" { "Enregistrer les rôles de la convention " (c.number) }
                    }
                }
                form method="post" action={ "/console/conventions/" (c.id) "/resiliation" } class="inline" {
                    (hidden_csrf(user))
                    label for={ "t-" (c.id) } { "Résilier la convention " (c.number) " au" }
                    input type="date" id={ "t-" (c.id) } name="terminated_on" required;
                    button type="submit" class="secondary" { "Enregistrer la résiliation" }
                }
            }
        }
    }
}

/// One fieldset per service with roles, a box per role (`client_id|role`); ticked as the
/// convention subscribes when it is given (every role of a service it opens without a list).
fn role_choices(all_services: &[Service], prefix: &str, convention: Option<&Convention>) -> Markup {
    html! {
        @for s in all_services.iter().filter(|s| !s.roles.is_empty()) {
            fieldset {
                legend { "Rôles souscrits du service " (s.name) }
                p class="hint" { "Cochez seulement les rôles du bulletin d'adhésion : le service est ouvert avec eux." }
                @for r in &s.roles {
                    @let id = format!("{prefix}-{}-{}", s.client_id, r.code);
                    @let ticked = convention.is_some_and(|c| {
                        crate::types::RoleCode::parse(&r.code).is_ok_and(|code| c.opens_role(&s.client_id, &code))
                    });
                    div class="check" {
                        input type="checkbox" id=(id) name="role" value={ (s.client_id) "|" (r.code) } checked[ticked];
                        label for=(id) { (r.display()) }
                    }
                }
            }
        }
    }
}
