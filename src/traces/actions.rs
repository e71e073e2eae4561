//! The documented list of the actions Passerelle records for itself (version 1). Relying
//! applications name their own business actions (`[a-z0-9_.-]`, at most 64 characters) in
//! their own stream.

/// The version of this list; a change of meaning gets a new name, never a reused one.
pub const VERSION: u32 = 1;

pub struct ActionDoc {
    pub name: &'static str,
    /// What security officers read.
    pub label: &'static str,
    pub description: &'static str,
}

macro_rules! actions {
    ($($name:literal => $label:literal, $description:literal,)*) => {
        pub const ACTIONS: &[ActionDoc] = &[$(ActionDoc { name: $name, label: $label, description: $description },)*];
    };
}

actions! {
    "auth.login" => "Connexion par mot de passe", "A password login; failure reasons: unknown_account, wrong_password, no_password, suspended, temporary_password_expired, throttled, captcha",
    "auth.second_factor" => "Second facteur à la connexion", "A TOTP or recovery code given at login; failure reason: wrong_code",
    "auth.logout" => "Déconnexion", "A session ended by the person or by their relying application",
    "auth.session_idle" => "Fin de session après inactivité", "A session ended because it was left idle longer than sessions.idle_timeout_seconds (seen when its browser came back)",
    "auth.code" => "Accès à une application", "An authorization code issued to a relying application; failure reason: no_habilitation",
    "token.issue" => "Jetons délivrés", "Tokens issued at the token endpoint (target: the grant type)",
    "token.refresh" => "Renouvellement de jetons", "A refresh; failure reason: reused (the family is revoked) or no_habilitation",
    "token.revoke" => "Révocation d'un jeton", "A token revoked by its relying application",
    "credential.password" => "Mot de passe choisi ou changé", "A password chosen or changed (activation, reset, change)",
    "credential.reset_request" => "Demande de nouveau mot de passe", "A password reset link asked for (the identifier is not recorded)",
    "credential.totp" => "Enrôlement du second facteur", "A TOTP factor enrolled",
    "credential.passkey" => "Clé d'accès ajoutée", "A passkey added (target: its handle)",
    "credential.passkey_removed" => "Clé d'accès retirée", "A passkey removed by its holder (target: its handle)",
    "admin.change" => "Changement d'administration", "A change to partners, conventions, people, groups, habilitations, quotas or modes (target: the record; reason: the administrator's)",
    "trace.query" => "Recherche dans les traces", "A search of the traces by a security officer (target: the filter's references)",
    "trace.export" => "Export des traces", "An export of the traces",
    "trace.dashboard" => "Tableau de bord de sécurité consulté", "The security dashboard viewed by an officer (target: the period)",
    "trace.request" => "Demande de traces à la Caf", "A partner's security officer asks the Caf for traces (target: the request)",
    "trace.request.answer" => "Réponse à une demande de traces", "The Caf's security officer answers a request with an export attached (target: the request)",
    "trace.request.refuse" => "Refus d'une demande de traces", "The Caf's security officer refuses a request (target: the request)",
    "trace.request.download" => "Téléchargement des traces d'une demande", "The export attached to a request downloaded (target: the request)",
    "alert.raise" => "Alerte de sécurité levée", "An alert rule fired (target: the alert; reason: the rule)",
    "alert.acknowledge" => "Alerte acquittée", "An alert acknowledged by a security officer (target: the alert; reason: the rule)",
    "trace.retention" => "Destruction de traces (conservation)", "Traces destroyed by the retention job (target: the attestation)",
}

/// The French name of one of Passerelle's own actions (a relying application's own actions
/// have none: their code is shown).
pub fn action_label(name: &str) -> Option<&'static str> {
    ACTIONS.iter().find(|a| a.name == name).map(|a| a.label)
}

/// The failure reasons Passerelle records, with their French words.
pub const REASONS: &[(&str, &str)] = &[
    ("unknown_account", "compte inconnu"),
    ("wrong_password", "mot de passe erroné"),
    (
        "no_password",
        "compte sans mot de passe (activation en attente)",
    ),
    ("suspended", "compte suspendu ou fermé"),
    (
        "temporary_password_expired",
        "mot de passe temporaire expiré",
    ),
    ("throttled", "tentatives bloquées (trop d'échecs)"),
    ("captcha", "vérification anti-robot manquée"),
    ("wrong_code", "code erroné"),
    ("no_habilitation", "pas d'habilitation pour ce service"),
    (
        "reused",
        "jeton de renouvellement réutilisé (famille révoquée)",
    ),
    (
        "email_in_use_elsewhere",
        "adresse déjà utilisée chez un autre partenaire",
    ),
];

/// The French words of a failure reason Passerelle records.
pub fn reason_label(code: &str) -> Option<&'static str> {
    REASONS.iter().find(|(c, _)| *c == code).map(|(_, l)| *l)
}

/// Whether a relying application's action name is acceptable.
pub fn valid_business_action(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}
