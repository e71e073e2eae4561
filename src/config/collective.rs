//! Addresses that look shared by a service rather than read by one person
//! (`credentials.collective_addresses`).

/// Whether `email` looks like a service's address (`service.jeunesse@…`, `accueil@…`): its
/// local part matches one of `patterns` (`credentials.collective_addresses`).
pub fn looks_collective(patterns: &[String], email: &crate::types::Email) -> bool {
    let local = email.local_part().to_lowercase();
    patterns.iter().any(|p| {
        glob(
            p.trim().trim_end_matches('@').to_lowercase().as_bytes(),
            local.as_bytes(),
        )
    })
}

/// `*` matches any run of characters; everything else itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CredentialsConfig;
    use crate::types::Email;

    #[test]
    fn shared_addresses_are_recognised_by_their_local_part_only() {
        let patterns = CredentialsConfig::default().collective_addresses;
        let shared = |e: &str| looks_collective(&patterns, &Email::parse(e).unwrap());
        assert!(shared("service.jeunesse@mairie-mouries.fr"));
        assert!(shared("Accueil@niort.example"));
        assert!(shared("contact@roumois-seine.example"));
        assert!(shared("mairie@mouries.example"));
        assert!(!shared("servane.contact@roumois-seine.example"));
        assert!(!shared("c.pollet@roumoiseine.fr"));
        assert!(
            !shared("marc.rousseau@service.example"),
            "the domain does not count"
        );
        assert!(looks_collective(
            &["équipe-*@".to_owned()],
            &Email::parse("équipe-rsa@niort.example").unwrap()
        ));
    }
}
