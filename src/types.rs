//! Protocol and domain values as types: each is built through `parse`, so a value that crosses a
//! module boundary has already been validated once.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a value was refused, in a sentence an operator or a developer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// An OAuth 2.0 client identifier: the identifier of one service (relying application).
    ClientId
);
string_newtype!(
    /// A redirect URI registered for a client, compared byte for byte (no normalisation).
    RedirectUri
);
string_newtype!(
    /// A professional email address, the identifier of a nominative account, kept lowercase.
    Email
);
string_newtype!(
    /// The stable identifier of an account, used as the OpenID Connect `sub`.
    AccountId
);
string_newtype!(
    /// The code of a Caf (the département number, e.g. `27` for the Caf de l'Eure).
    CafCode
);
string_newtype!(
    /// The stable key of a partner in provisioning files (e.g. `cc-roumois-seine`).
    PartnerId
);
string_newtype!(
    /// A SIRET number: 14 digits passing the Luhn check.
    Siret
);
string_newtype!(
    /// The public identifier of a browser session (the `sid` claim).
    SessionId
);
string_newtype!(
    /// The identifier of one authorization grant: the code, the tokens it produced and its
    /// refresh-token family share it, so that revoking the grant revokes all of them.
    GrantId
);

fn require_printable(what: &str, value: &str, max: usize) -> Result<(), InvalidValue> {
    if value.is_empty() {
        return Err(InvalidValue(format!("{what} must not be empty")));
    }
    if value.len() > max {
        return Err(InvalidValue(format!(
            "{what} is longer than {max} characters"
        )));
    }
    if value.chars().any(|c| c.is_control()) {
        return Err(InvalidValue(format!("{what} contains control characters")));
    }
    Ok(())
}

impl ClientId {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        require_printable("client_id", value, 128)?;
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        {
            return Err(InvalidValue(format!(
                "client_id `{value}` may only contain letters, digits, '-', '_', '.' and ':'"
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

impl RedirectUri {
    /// Accepts absolute `https` URIs, and `http` ones on loopback hosts for development
    /// (RFC 8252 §7.3). Fragments are forbidden by RFC 6749 §3.1.2.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        require_printable("redirect URI", value, 2048)?;
        let url = url::Url::parse(value)
            .map_err(|e| InvalidValue(format!("redirect URI `{value}` is not a URL: {e}")))?;
        if url.fragment().is_some() {
            return Err(InvalidValue(format!(
                "redirect URI `{value}` must not contain a fragment"
            )));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(url.host_str().unwrap_or_default()) => {}
            _ => {
                return Err(InvalidValue(format!(
                    "redirect URI `{value}` must use https (http is accepted on loopback only)"
                )));
            }
        }
        Ok(Self(value.to_owned()))
    }
}

/// Whether `host` names this machine: `localhost`, `127.x.x.x` or `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

impl Email {
    /// Lowercases and checks the shape `local@domain.tld`; deliverability is proven later by the
    /// activation link, not here.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let value = value.trim().to_lowercase();
        require_printable("email", &value, 254)?;
        let Some((local, domain)) = value.rsplit_once('@') else {
            return Err(InvalidValue(format!("`{value}` is not an email address")));
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.len() > 64 || local.contains(char::is_whitespace) || !domain_ok
        {
            return Err(InvalidValue(format!("`{value}` is not an email address")));
        }
        Ok(Self(value))
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or(&self.0)
    }
}

impl AccountId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Accounts ids come only from the store, which generated them.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }
}

impl CafCode {
    /// A département code: two or three digits, or `2A`/`2B` for Corsica.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let ok = matches!(value.len(), 2 | 3)
            && (value.chars().all(|c| c.is_ascii_digit()) || value == "2A" || value == "2B");
        if !ok {
            return Err(InvalidValue(format!(
                "Caf code `{value}` must be a département number such as `27` or `974`"
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

impl PartnerId {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        require_printable("partner id", value, 64)?;
        if !value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(InvalidValue(format!(
                "partner id `{value}` may only contain lowercase letters, digits and '-'"
            )));
        }
        Ok(Self(value.to_owned()))
    }
}

impl Siret {
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let digits: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() != 14 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(InvalidValue(format!("SIRET `{value}` must have 14 digits")));
        }
        if !luhn_valid(&digits) {
            return Err(InvalidValue(format!(
                "SIRET `{value}` fails the Luhn check: a digit is wrong"
            )));
        }
        Ok(Self(digits))
    }
}

fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl SessionId {
    pub fn generate() -> Self {
        Self(crate::crypto::random_token_of(16))
    }

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        if value.len() != 22 || !value.bytes().all(crate::crypto::is_base64url_byte) {
            return Err(InvalidValue("malformed session id".into()));
        }
        Ok(Self(value.to_owned()))
    }
}

impl GrantId {
    pub fn generate() -> Self {
        Self(crate::crypto::random_token_of(16))
    }

    pub fn from_stored(value: String) -> Self {
        Self(value)
    }
}

/// A set of OAuth 2.0 scope values, kept sorted and without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses a space-separated `scope` parameter (RFC 6749 §3.3).
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let mut items = Vec::new();
        for item in value.split(' ').filter(|s| !s.is_empty()) {
            if !item
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
            {
                return Err(InvalidValue(format!(
                    "scope `{item}` has forbidden characters"
                )));
            }
            items.push(item.to_owned());
        }
        Ok(Self::from_iter(items))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl FromIterator<String> for Scopes {
    fn from_iter<T: IntoIterator<Item = String>>(iter: T) -> Self {
        let mut items: Vec<String> = iter.into_iter().collect();
        items.sort();
        items.dedup();
        Self(items)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siret_checks_luhn() {
        assert!(Siret::parse("21790191700013").is_ok());
        assert!(Siret::parse("21790191700014").is_err());
        assert!(Siret::parse("2179019170001").is_err());
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(RedirectUri::parse("https://rp.example/cb?x=1").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:9000/cb").is_ok());
        assert!(RedirectUri::parse("http://rp.example/cb").is_err());
        assert!(RedirectUri::parse("https://rp.example/cb#frag").is_err());
    }

    #[test]
    fn email_is_normalised() {
        assert_eq!(
            Email::parse(" Camille.Martin@Example.FR ")
                .unwrap()
                .as_str(),
            "camille.martin@example.fr"
        );
        assert!(Email::parse("no-at-sign").is_err());
        assert!(Email::parse("a@nodot").is_err());
    }

    #[test]
    fn scopes_are_a_set() {
        let s = Scopes::parse("openid  email openid").unwrap();
        assert_eq!(s.to_string(), "email openid");
        assert!(Scopes::parse("bad\"scope").is_err());
    }
}
