//! The documented list of the actions Passerelle records for itself (version 1). Relying
//! applications name their own business actions (`[a-z0-9_.-]`, at most 64 characters) in
//! their own stream.

/// The version of this list; a change of meaning gets a new name, never a reused one.
pub const VERSION: u32 = 1;

pub struct ActionDoc {
    pub name: &'static str,
    pub description: &'static str,
}

macro_rules! actions {
    ($($name:literal => $description:literal,)*) => {
        pub const ACTIONS: &[ActionDoc] = &[$(ActionDoc { name: $name, description: $description },)*];
    };
}

actions! {
    "auth.login" => "A password login; failure reasons: unknown_account, wrong_password, no_password, suspended, temporary_password_expired, throttled, captcha",
    "auth.second_factor" => "A TOTP or recovery code given at login; failure reason: wrong_code",
    "auth.logout" => "A session ended by the person or by their relying application",
    "auth.code" => "An authorization code issued to a relying application; failure reason: no_habilitation",
    "token.issue" => "Tokens issued at the token endpoint (target: the grant type)",
    "token.refresh" => "A refresh; failure reason: reused (the family is revoked) or no_habilitation",
    "token.revoke" => "A token revoked by its relying application",
    "credential.password" => "A password chosen or changed (activation, reset, change)",
    "credential.reset_request" => "A password reset link asked for (the identifier is not recorded)",
    "credential.totp" => "A TOTP factor enrolled",
    "admin.change" => "A change to partners, conventions, people, groups, habilitations, quotas or modes (target: the record; reason: the administrator's)",
    "trace.query" => "A search of the traces by a security officer (target: the filter's references)",
    "trace.export" => "An export of the traces",
    "trace.retention" => "Traces destroyed by the retention job (target: the attestation)",
}

/// Whether a relying application's action name is acceptable.
pub fn valid_business_action(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}
