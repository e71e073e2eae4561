//! Request parameters of the protocol endpoints, parsed once: a parameter sent twice is an
//! error (RFC 6749 §3.1 and §3.2), an empty value counts as absent.

use std::collections::HashMap;

#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(text: &[u8]) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (key, value) in url::form_urlencoded::parse(text) {
            if value.is_empty() {
                continue;
            }
            if map.insert(key.to_string(), value.to_string()).is_some() {
                return Err(format!("parameter `{key}` is repeated"));
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn take(&mut self, key: &str) -> Option<String> {
        self.0.remove(key)
    }

    pub fn insert(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }

    /// The parameters as a form body again (in name order).
    pub fn to_form(&self) -> String {
        let mut pairs: Vec<_> = self.0.iter().collect();
        pairs.sort();
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }
}

/// Decodes one `application/x-www-form-urlencoded` component: RFC 6749 §2.3.1 requires the
/// client id and secret in HTTP Basic to be encoded that way before base64.
pub fn form_urldecode(component: &str) -> Option<String> {
    let spaced = component.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(Params::parse(b"a=1&a=2").is_err());
        let p = Params::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        let again = Params::parse(p.to_form().as_bytes()).unwrap();
        assert_eq!((again.get("a"), again.get("c")), (Some("1"), Some("x y")));
    }

    #[test]
    fn basic_components_are_form_decoded() {
        assert_eq!(form_urldecode("a%3Ab+c%2B").as_deref(), Some("a:b c+"));
    }
}
