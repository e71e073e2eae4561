//! French wording of domain values, for the edges that show them to people (pages, API
//! problem details, mails). The domain keeps codes and data; this is the one place they
//! become words.

use crate::habilitations::{HabilitationError, Record};
use crate::store::AdminRole;

/// Times as people read them (kept in `clock`, below every module that shows one).
pub use crate::clock::{ZONE, paris, paris_day, paris_recent, paris_time};

/// "30 minutes", "1 heure", "8 heures", "1 h 30": a duration people read.
pub fn duration(seconds: u64) -> String {
    let (hours, minutes) = (seconds / 3600, (seconds % 3600) / 60);
    match (hours, minutes) {
        (0, 1) => "1 minute".into(),
        (0, m) => format!("{m} minutes"),
        (1, 0) => "1 heure".into(),
        (h, 0) => format!("{h} heures"),
        (h, m) => format!("{h} h {m:02}"),
    }
}

/// Whether a civility asks for the feminine ("Mme", "Madame").
fn feminine(civility: Option<&str>) -> bool {
    civility.is_some_and(|c| {
        let c = c.trim().trim_end_matches('.').to_lowercase();
        c == "mme" || c == "madame" || c == "mlle" || c == "mademoiselle"
    })
}

/// An administrative role as its holder's civility says it ("administratrice suppléante").
pub fn admin_role(role: AdminRole, civility: Option<&str>) -> &'static str {
    let f = feminine(civility);
    match role {
        AdminRole::CafHabilitationOfficer => "responsable des habilitations de la Caf",
        AdminRole::PartnerAdministrator if f => "administratrice principale",
        AdminRole::PartnerAdministrator => "administrateur principal",
        AdminRole::PartnerSubstitute if f => "administratrice suppléante",
        AdminRole::PartnerSubstitute => "administrateur suppléant",
        AdminRole::DelegatedManager if f => "gestionnaire déléguée",
        AdminRole::DelegatedManager => "gestionnaire délégué",
        AdminRole::SecurityOfficer => "responsable sécurité",
        AdminRole::NationalOperator if f => "opératrice nationale",
        AdminRole::NationalOperator => "opérateur national",
    }
}

/// The French name of a change-log action, for tables and exports (the code stays beside it).
pub fn action(code: &str) -> &'static str {
    match code {
        "account.create" => "création du compte",
        "account.update" => "correction du profil",
        "account.suspend" => "suspension du compte",
        "account.reactivate" => "réactivation du compte",
        "account.close" => "fermeture du compte (départ)",
        "account.force_password_change" => "changement de mot de passe demandé",
        "account.unlock" => "déverrouillage du compte",
        "account.reset_second_factor" => "réinitialisation du second facteur",
        "account.end_sessions" => "fin des sessions",
        "account.resend_activation" => "nouvel envoi de l'activation",
        "administrators.appoint" => "désignation d'un administrateur",
        "administrators.remove" => "fin de désignation d'un administrateur",
        "delegated_manager.name" => "délégation de gestion",
        "convention.create" => "enregistrement de la convention",
        "convention.edit" => "correction de la convention",
        "convention.mode" => "changement du mode de gestion",
        "partner.create" => "enregistrement du partenaire",
        "quota.set" => "quota",
        "group.create" => "création du groupe",
        "group.add_member" => "ajout au groupe",
        "group.remove_member" => "retrait du groupe",
        "group.close" => "fermeture du groupe",
        "habilitation.grant" => "attribution d'une habilitation",
        "habilitation.suspend" => "suspension d'une habilitation",
        "habilitation.reactivate" => "réactivation d'une habilitation",
        "habilitation.close" => "retrait d'une habilitation",
        "review.start" => "début de la revue annuelle",
        "review.complete" => "fin de la revue annuelle",
        "retention.habilitations" => "effacement en fin de conservation",
        "retention.erase_personal_data" => "effacement des données du compte (fin de conservation)",
        "retention.erasure" => "attestation signée d'effacement des comptes",
        "request.file" => "demande adressée à la Caf",
        "request.approve" => "demande acceptée par la Caf",
        "request.refuse" => "demande refusée par la Caf",
        "request.cancel" => "demande retirée",
        _ => "autre changement",
    }
}

/// What a partner's request to its Caf is about (`RequestedChange::code`).
pub fn request_kind(code: &str) -> &'static str {
    match code {
        "create_person" => "la création d'un compte",
        "grant" => "l'attribution d'une habilitation",
        "suspend" => "la suspension d'une habilitation",
        "reactivate" => "la réactivation d'une habilitation",
        "withdraw" => "le retrait d'une habilitation",
        "close_account" => "la fermeture d'un compte",
        _ => "un changement",
    }
}

/// Who an automatic author is, for people.
pub fn system_author(name: &str) -> Option<&'static str> {
    match name {
        "provisioning" => Some("le provisionnement (fichier de l'exploitant)"),
        "cli" => Some("un exploitant (ligne de commande)"),
        "annexe1" => Some("l'import de l'annexe 1"),
        "retention" => Some("la conservation automatique"),
        _ => None,
    }
}

/// "le compte", "la convention"…: the record with its article.
pub fn record(r: Record) -> &'static str {
    match r {
        Record::Account => "le compte",
        Record::Partner => "le partenaire",
        Record::Group => "le groupe",
        Record::Convention => "la convention",
        Record::Habilitation => "l'habilitation",
        Record::Service => "le service",
        Record::Caf => "la Caf",
        Record::Review => "la revue",
        Record::Request => "la demande",
        Record::ApiToken => "le jeton d'API",
        Record::Attestation => "l'attestation",
        Record::Alert => "l'alerte",
        Record::TraceRequest => "la demande de traces",
    }
}

/// The sentence a person reads for a refused habilitation command.
pub fn refusal(e: &HabilitationError) -> String {
    match e {
        HabilitationError::NotFound(r) => {
            let what = record(*r);
            let mut first = what.chars();
            let upper: String = first
                .next()
                .into_iter()
                .flat_map(char::to_uppercase)
                .collect();
            format!(
                "{upper}{} est introuvable, ou ne fait pas partie de ce que vous gérez.",
                first.as_str()
            )
        }
        HabilitationError::QuotaReached {
            service,
            role,
            maximum,
        } => format!(
            "Quota atteint : {maximum} personne(s) au plus pour le rôle « {role} » du service « {service} »."
        ),
        HabilitationError::SharedAddress(email) => format!(
            "L'adresse {email} ressemble à l'adresse d'un service (accueil, secrétariat, service…), que plusieurs personnes lisent : un compte Passerelle est nominatif. Donnez l'adresse professionnelle de la personne elle-même, ou confirmez que celle-ci n'est lue que par elle."
        ),
        HabilitationError::Forbidden(m)
        | HabilitationError::Invalid(m)
        | HabilitationError::Conflict(m) => m.clone(),
        HabilitationError::Lifecycle(crate::accounts::lifecycle::LifecycleError::Invalid(m)) => {
            m.clone()
        }
        HabilitationError::Store(_) | HabilitationError::Lifecycle(_) => {
            "Une erreur interne empêche de traiter votre demande.".to_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_french() {
        assert_eq!(duration(60), "1 minute");
        assert_eq!(duration(1800), "30 minutes");
        assert_eq!(duration(3600), "1 heure");
        assert_eq!(duration(8 * 3600), "8 heures");
        assert_eq!(duration(5400), "1 h 30");
    }

    #[test]
    fn times_are_in_paris_with_summer_time() {
        // 2026-07-01 10:00 UTC is noon in Paris; 2026-12-01 10:00 UTC is 11:00.
        assert_eq!(paris(1_782_900_000), "01/07/2026 à 12:00");
        assert_eq!(paris(1_796_119_200), "01/12/2026 à 11:00");
    }

    #[test]
    fn roles_follow_the_civility() {
        assert_eq!(
            admin_role(AdminRole::PartnerSubstitute, Some("Mme")),
            "administratrice suppléante"
        );
        assert_eq!(
            admin_role(AdminRole::PartnerSubstitute, Some("M.")),
            "administrateur suppléant"
        );
        assert_eq!(
            admin_role(AdminRole::DelegatedManager, None),
            "gestionnaire délégué"
        );
    }

    #[test]
    fn refusals_are_sentences() {
        assert_eq!(
            refusal(&HabilitationError::NotFound(Record::Convention)),
            "La convention est introuvable, ou ne fait pas partie de ce que vous gérez."
        );
        assert_eq!(
            refusal(&HabilitationError::NotFound(Record::Habilitation)),
            "L'habilitation est introuvable, ou ne fait pas partie de ce que vous gérez."
        );
    }
}
