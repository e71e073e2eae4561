//! French wording of domain values, for the edges that show them to people (pages, API
//! problem details, mails). The domain keeps codes and data; this is the one place they
//! become words.

use crate::habilitations::{HabilitationError, Record};

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
        Record::ApiToken => "le jeton d'API",
        Record::Attestation => "l'attestation",
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
