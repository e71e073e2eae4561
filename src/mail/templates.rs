//! The messages Passerelle sends, in French, each as plain text and HTML. They name the
//! services and the Caf so that the person knows why they receive them.

use super::Mail;
use maud::html;

/// Who the message is for and in whose name it speaks.
pub struct Recipient<'a> {
    pub address: &'a str,
    pub name: &'a str,
    pub caf: Option<&'a str>,
    pub services: &'a [String],
}

fn signature(caf: Option<&str>) -> String {
    match caf {
        Some(caf) => format!("{caf}, via Passerelle"),
        None => "Passerelle".into(),
    }
}

fn services_line(services: &[String]) -> String {
    match services.len() {
        0 => "aux services que la Caf ouvre à ses partenaires".into(),
        1 => format!("au service « {} »", services[0]),
        _ => format!(
            "aux services {}",
            services
                .iter()
                .map(|s| format!("« {s} »"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn build(
    to: &Recipient<'_>,
    subject: &str,
    paragraphs: &[String],
    link: Option<(&str, &str)>,
    warning: &str,
) -> Mail {
    let mut text = format!("Bonjour {},\n\n", to.name);
    for p in paragraphs {
        text.push_str(p);
        text.push_str("\n\n");
    }
    if let Some((label, url)) = link {
        text.push_str(&format!("{label} :\n{url}\n\n"));
    }
    text.push_str(warning);
    text.push_str(&format!("\n\n{}\n", signature(to.caf)));
    let html = html! {
        p { "Bonjour " (to.name) "," }
        @for p in paragraphs { p { (p) } }
        @if let Some((label, url)) = link {
            p { a href=(url) { (label) } }
            p { "Si le lien ne s'ouvre pas, copiez cette adresse dans votre navigateur : " br; (url) }
        }
        p { small { (warning) } }
        p { (signature(to.caf)) }
    };
    Mail {
        to_address: to.address.to_owned(),
        to_name: to.name.to_owned(),
        subject: subject.to_owned(),
        text,
        html: html.into_string(),
    }
}

const NOT_YOU: &str = "Vous n'êtes pas à l'origine de cette demande ? Ne cliquez pas sur le lien et prévenez votre Caf. Passerelle ne vous demandera jamais votre mot de passe par courriel.";

pub fn activation(to: &Recipient<'_>, link: &str, valid_hours: u64) -> Mail {
    build(
        to,
        "Activez votre compte Passerelle",
        &[
            format!("Un compte nominatif vient d'être créé pour vous donner accès {}.", services_line(to.services)),
            format!("Pour l'activer, choisissez votre mot de passe avec le lien ci-dessous. Ce lien ne fonctionne qu'une fois et reste valable {valid_hours} heures."),
            "Votre identifiant est votre adresse électronique professionnelle. Vos codes sont strictement personnels : ne les communiquez à personne.".into(),
        ],
        Some(("Choisir mon mot de passe", link)),
        "Vous ne vous attendiez pas à ce compte ? N'utilisez pas le lien et demandez au responsable des habilitations de votre organisme (ou à votre Caf) pourquoi il a été créé. Passerelle ne vous demandera jamais votre mot de passe par courriel.",
    )
}

pub fn password_changed(to: &Recipient<'_>, when: &str) -> Mail {
    build(
        to,
        "Votre mot de passe Passerelle a été modifié",
        &[
            format!("Le mot de passe de votre compte Passerelle a été modifié le {when}."),
            "Par sécurité, toutes vos sessions ouvertes ont été fermées : reconnectez-vous aux applications que vous utilisez.".into(),
        ],
        None,
        "Si vous n'êtes pas à l'origine de ce changement, prévenez immédiatement votre Caf ou l'administrateur de votre organisme.",
    )
}

pub fn reset(to: &Recipient<'_>, link: &str, valid_minutes: u64) -> Mail {
    build(
        to,
        "Choisissez un nouveau mot de passe Passerelle",
        &[
            "Une demande de nouveau mot de passe a été faite pour votre compte Passerelle.".into(),
            format!(
                "Le lien ci-dessous ne fonctionne qu'une fois et reste valable {valid_minutes} minutes. Votre mot de passe actuel reste valable tant que vous n'en avez pas choisi un nouveau."
            ),
        ],
        Some(("Choisir un nouveau mot de passe", link)),
        NOT_YOU,
    )
}

pub fn locked(to: &Recipient<'_>, link: &str, until: &str) -> Mail {
    build(
        to,
        "Votre compte Passerelle est temporairement bloqué",
        &[
            "Plusieurs tentatives de connexion avec un mot de passe erroné ont eu lieu sur votre compte. Par sécurité, il est bloqué temporairement.".into(),
            format!("Il se débloquera de lui-même le {until}. Si c'est vous qui vous êtes trompé, vous pouvez le débloquer dès maintenant avec le lien ci-dessous."),
        ],
        Some(("Débloquer mon compte", link)),
        "Si ces tentatives ne viennent pas de vous, ne cliquez pas : quelqu'un essaie peut-être de deviner votre mot de passe. Prévenez votre Caf.",
    )
}

pub fn temporary_password(
    to: &Recipient<'_>,
    password: &str,
    login_url: &str,
    valid_hours: u64,
) -> Mail {
    build(
        to,
        "Votre mot de passe temporaire Passerelle",
        &[
            format!(
                "Un compte nominatif vient d'être créé pour vous donner accès {}.",
                services_line(to.services)
            ),
            format!(
                "Votre identifiant est votre adresse électronique professionnelle. Votre mot de passe temporaire est : {password}"
            ),
            format!(
                "Il ne sert qu'une fois et reste valable {valid_hours} heures. À votre première connexion, vous devrez choisir votre propre mot de passe."
            ),
        ],
        Some(("Se connecter", login_url)),
        "Vos codes sont strictement personnels : ne les communiquez à personne. Passerelle ne vous demandera jamais votre mot de passe par courriel.",
    )
}

/// To a Caf's habilitation officers: a partner's administrator tried to create an account for
/// an address already used elsewhere (they were told only that it cannot be used).
pub fn email_in_use(
    officer_address: &str,
    officer_name: &str,
    who: &str,
    partner: &str,
    email: &str,
    where_: &str,
) -> Mail {
    let to = Recipient {
        address: officer_address,
        name: officer_name,
        caf: None,
        services: &[],
    };
    build(
        &to,
        "Création de compte refusée : adresse déjà utilisée",
        &[
            format!("{who} a voulu créer, pour le partenaire « {partner} », un compte à l'adresse {email}."),
            format!("Cette adresse est déjà celle de {where_}. Un compte est nominatif et rattaché à un seul partenaire : la création a été refusée sans que le demandeur sache où l'adresse est utilisée."),
            "Si la personne a changé d'organisme, fermez son ancien compte ou rattachez-la au bon partenaire, puis prévenez le demandeur.".into(),
        ],
        None,
        "Message envoyé aux responsables des habilitations de la Caf. Consultez la console Passerelle pour le détail.",
    )
}

/// To a Caf's habilitation officers: a partner in centralized mode asks for a change.
#[allow(clippy::too_many_arguments)]
pub fn request_filed(
    officer_address: &str,
    officer_name: &str,
    title: &str,
    who: &str,
    partner: &str,
    what: &str,
    reason: Option<&str>,
    queue_url: &str,
) -> Mail {
    let to = Recipient {
        address: officer_address,
        name: officer_name,
        caf: None,
        services: &[],
    };
    let mut paragraphs = vec![format!(
        "{who} pour le partenaire « {partner} », demande à la Caf {}.",
        crate::french::de(what)
    )];
    if let Some(r) = reason {
        paragraphs.push(format!("Motif donné : {r}"));
    }
    paragraphs.push(
        "La gestion des habilitations de ce partenaire est centralisée : la demande attend votre décision (accepter, ce qui la réalise, ou refuser en donnant le motif).".into(),
    );
    build(
        &to,
        &format!("{title} – {partner}"),
        &paragraphs,
        Some(("Traiter les demandes", queue_url)),
        "Message envoyé aux responsables des habilitations de la Caf.",
    )
}

/// To the requester: the Caf accepted (and carried out) or refused their request.
pub fn request_decided(
    to: &Recipient<'_>,
    what: &str,
    approved: bool,
    by: &str,
    by_address: &str,
    reason: Option<&str>,
    console_url: &str,
) -> Mail {
    let what = crate::french::de(what);
    let mut paragraphs = vec![if approved {
        format!("{by} a accepté votre demande {what} : c'est fait.")
    } else {
        format!("{by} a refusé votre demande {what}.")
    }];
    if let Some(r) = reason {
        paragraphs.push(format!("Motif : {r}"));
    }
    build(
        to,
        if approved {
            "Votre demande à la Caf est acceptée"
        } else {
            "Votre demande à la Caf est refusée"
        },
        &paragraphs,
        Some(("Voir vos demandes", console_url)),
        &format!(
            "Pour toute question, écrivez à {by} à l'adresse {by_address} (ce message-ci part d'une adresse qui ne reçoit pas de réponse)."
        ),
    )
}

/// To a Caf's habilitation officers: a partner completed its yearly review.
pub fn review_completed(
    officer_address: &str,
    officer_name: &str,
    partner: &str,
    by: &str,
    confirmed: usize,
    withdrawn: usize,
    report_url: &str,
) -> Mail {
    let to = Recipient {
        address: officer_address,
        name: officer_name,
        caf: None,
        services: &[],
    };
    build(
        &to,
        &format!("Revue annuelle des habilitations de « {partner} » terminée"),
        &[
            format!("{by} a terminé la revue annuelle des habilitations du partenaire « {partner} » : {confirmed} habilitation(s) confirmée(s), {withdrawn} retirée(s) (les retraits ont pris effet)."),
            "Le rapport signé est conservé dans la console : il se lit, s'imprime et sa signature se vérifie depuis la page du rapport.".into(),
        ],
        Some(("Lire le rapport", report_url)),
        "Message envoyé aux responsables des habilitations de la Caf.",
    )
}

/// To a person: what was done to their access, why, and whom to contact.
pub fn notice(
    to: &Recipient<'_>,
    subject: &str,
    sentence: &str,
    reason: Option<&str>,
    contacts: &[String],
) -> Mail {
    let mut paragraphs = vec![sentence.to_owned()];
    if let Some(r) = reason {
        paragraphs.push(format!("Motif indiqué : {r}"));
    }
    paragraphs.push(match contacts {
        [] => "Pour toute question, adressez-vous à votre responsable des habilitations ou à votre Caf.".into(),
        [one] => format!("Pour toute question, contactez {one}."),
        many => format!("Pour toute question, contactez {}.", many.join(" ; ")),
    });
    build(
        to,
        subject,
        &paragraphs,
        None,
        "Passerelle ne vous demandera jamais votre mot de passe par courriel.",
    )
}

/// To a security officer: an alert rule fired.
pub fn alert(address: &str, name: &str, rule: &str, summary: &str, url: &str) -> Mail {
    let to = Recipient {
        address,
        name,
        caf: None,
        services: &[],
    };
    build(
        &to,
        &format!("Alerte de sécurité Passerelle : {rule}"),
        &[
            summary.to_owned(),
            "Examinez les traces et acquittez l'alerte dans la console en disant ce qui a été vérifié ou fait ; tant que la série continue, vous ne recevez pas d'autre message pour elle.".into(),
        ],
        Some(("Voir l'alerte", url)),
        "Message envoyé aux responsables sécurité concernés.",
    )
}

/// To a security officer: a request for traces filed, or its answer.
pub fn trace_request(address: &str, name: &str, subject: &str, sentence: &str, url: &str) -> Mail {
    let to = Recipient {
        address,
        name,
        caf: None,
        services: &[],
    };
    build(
        &to,
        subject,
        &[sentence.to_owned()],
        Some(("Ouvrir les demandes de traces", url)),
        "Message envoyé aux responsables sécurité concernés. Les traces jointes sont des données personnelles : ne les transmettez pas par courriel.",
    )
}
