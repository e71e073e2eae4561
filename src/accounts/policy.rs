//! Password policies: named profiles from configuration (`[password_policies.NAME]`), attached
//! to services. Every profile also refuses common passwords (the 30,000-entry list zxcvbn ships,
//! checked offline, l33t and case variants included), passwords containing the person's email
//! local part or names, and the last passwords of the account.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The longest password any profile accepts (ASVS 5.0 asks for at least 64).
pub const MAX_LENGTH: usize = 128;
/// Common passwords refused: at least the 10,000 most common of the shipped list.
pub const COMMON_RANK_LIMIT: usize = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CharClass {
    Upper,
    Lower,
    Digit,
    Special,
}

impl CharClass {
    fn of(c: char) -> Self {
        if c.is_uppercase() {
            CharClass::Upper
        } else if c.is_lowercase() {
            CharClass::Lower
        } else if c.is_ascii_digit() {
            CharClass::Digit
        } else {
            CharClass::Special
        }
    }

    fn french(self) -> &'static str {
        match self {
            CharClass::Upper => "une majuscule",
            CharClass::Lower => "une minuscule",
            CharClass::Digit => "un chiffre",
            CharClass::Special => "un caractère spécial (par exemple ! ? - _ # @)",
        }
    }
}

/// One profile, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub min_length: usize,
    #[serde(default = "default_max")]
    pub max_length: usize,
    /// Classes that must all appear.
    #[serde(default)]
    pub required_classes: Vec<CharClass>,
    /// From this length on, the class rules no longer apply (long passphrases).
    #[serde(default)]
    pub passphrase_length: Option<usize>,
    /// Letters and digits only (the legacy monenfant rule).
    #[serde(default)]
    pub alphanumeric_only: bool,
}

fn default_max() -> usize {
    MAX_LENGTH
}

/// The profiles every installation has; configuration may change them and add others.
pub fn default_profiles() -> BTreeMap<String, PolicyConfig> {
    use CharClass::*;
    BTreeMap::from([
        (
            "cooperation".to_owned(),
            PolicyConfig {
                min_length: 8,
                max_length: MAX_LENGTH,
                required_classes: vec![Upper, Lower, Digit, Special],
                passphrase_length: None,
                alphanumeric_only: false,
            },
        ),
        (
            "monenfant".to_owned(),
            PolicyConfig {
                min_length: 8,
                max_length: MAX_LENGTH,
                required_classes: vec![],
                passphrase_length: None,
                alphanumeric_only: true,
            },
        ),
        (
            "administrator".to_owned(),
            PolicyConfig {
                min_length: 12,
                max_length: MAX_LENGTH,
                required_classes: vec![Upper, Lower, Digit, Special],
                passphrase_length: Some(14),
                alphanumeric_only: false,
            },
        ),
    ])
}

impl PolicyConfig {
    pub fn validate(&self, name: &str) -> Result<(), String> {
        if self.min_length < 8 {
            return Err(format!(
                "password_policies.{name}.min_length must be at least 8"
            ));
        }
        if self.max_length < self.min_length || self.max_length > MAX_LENGTH {
            return Err(format!(
                "password_policies.{name}.max_length must be between min_length and {MAX_LENGTH}"
            ));
        }
        if self.alphanumeric_only && self.required_classes.contains(&CharClass::Special) {
            return Err(format!(
                "password_policies.{name}: alphanumeric_only contradicts a required special character"
            ));
        }
        Ok(())
    }

    /// How demanding the profile is: longer minimum first, then more required classes.
    fn strictness(&self) -> (usize, usize) {
        (self.min_length, self.required_classes.len())
    }
}

/// What a person's password is checked against besides the profile.
pub struct PersonalContext<'a> {
    pub email_local_part: &'a str,
    pub names: &'a [&'a str],
}

/// Why a password was refused, in French, one line per rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    TooShort(usize),
    TooLong(usize),
    MissingClass(CharClass),
    NotAlphanumeric,
    Common,
    Personal,
    Reused(u32),
}

impl Failure {
    pub fn french(&self) -> String {
        match self {
            Failure::TooShort(n) => format!("Il doit contenir au moins {n} caractères."),
            Failure::TooLong(n) => format!("Il doit contenir au plus {n} caractères."),
            Failure::MissingClass(c) => format!("Il doit contenir {}.", c.french()),
            Failure::NotAlphanumeric => {
                "Il ne doit contenir que des lettres non accentuées et des chiffres.".into()
            }
            Failure::Common => {
                "Il figure parmi les mots de passe les plus courants : choisissez-en un autre."
                    .into()
            }
            Failure::Personal => {
                "Il ne doit contenir ni votre nom, ni votre prénom, ni votre adresse électronique."
                    .into()
            }
            Failure::Reused(n) => {
                format!("Il doit être différent de vos {n} derniers mots de passe.")
            }
        }
    }
}

/// A resolved profile with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub config: PolicyConfig,
}

impl Policy {
    /// The rules in French, shown before the person types.
    pub fn rules(&self, history: u32) -> Vec<String> {
        let c = &self.config;
        let mut rules = vec![format!(
            "entre {} et {} caractères ;",
            c.min_length, c.max_length
        )];
        if !c.required_classes.is_empty() {
            let classes: Vec<&str> = c.required_classes.iter().map(|k| k.french()).collect();
            let mut rule = format!("au moins {} ;", classes.join(", "));
            if let Some(n) = c.passphrase_length {
                rule = format!(
                    "au moins {}, sauf s'il compte {n} caractères ou plus ;",
                    classes.join(", ")
                );
            }
            rules.push(rule);
        }
        if c.alphanumeric_only {
            rules.push("uniquement des lettres non accentuées et des chiffres (majuscules et minuscules sont distinguées) ;".into());
        }
        rules.push("ni votre nom, ni votre prénom, ni votre adresse électronique ;".into());
        rules.push("pas un mot de passe courant, même suivi de chiffres ou de symboles (« Azerty123! », « Motdepasse1 »…) ;".into());
        rules.push(format!(
            "différent de vos {history} derniers mots de passe."
        ));
        rules
    }

    /// Checks everything that does not need the stored history (checked by the caller, which
    /// owns the hashes); returns every rule that failed.
    pub fn check(&self, password: &str, person: &PersonalContext<'_>) -> Vec<Failure> {
        let c = &self.config;
        let mut failures = Vec::new();
        let length = password.chars().count();
        if length < c.min_length {
            failures.push(Failure::TooShort(c.min_length));
        }
        if length > c.max_length {
            failures.push(Failure::TooLong(c.max_length));
        }
        let passphrase = c.passphrase_length.is_some_and(|n| length >= n);
        if !passphrase {
            for class in &c.required_classes {
                if !password.chars().any(|ch| CharClass::of(ch) == *class) {
                    failures.push(Failure::MissingClass(*class));
                }
            }
        }
        if c.alphanumeric_only && !password.chars().all(|ch| ch.is_ascii_alphanumeric()) {
            failures.push(Failure::NotAlphanumeric);
        }
        let lowered = password.to_lowercase();
        let personal = std::iter::once(person.email_local_part)
            .chain(person.email_local_part.split(['.', '-', '_']))
            .chain(person.names.iter().copied())
            .map(|p| p.trim().to_lowercase())
            .filter(|p| p.chars().count() >= 3)
            .any(|p| lowered.contains(&p));
        if personal {
            failures.push(Failure::Personal);
        }
        if length <= MAX_LENGTH && is_common(password) {
            failures.push(Failure::Common);
        }
        failures
    }
}

/// Words French passwords are commonly made of that zxcvbn's (English) lists do not rank, or
/// rank too far down: refused alone or with digits and symbols around them.
const FRENCH_COMMON: &[&str] = &[
    "azerty",
    "azertyuiop",
    "motdepasse",
    "bonjour",
    "bonsoir",
    "soleil",
    "bienvenue",
    "jetaime",
    "chouchou",
    "doudou",
    "loulou",
    "coucou",
    "marseille",
    "toulouse",
    "paris",
    "france",
    "caf",
    "mairie",
    "passerelle",
    "monenfant",
    "cooperation",
    "utilisateur",
    "secret",
    "admin",
    "administrateur",
    "password",
    "motpasse",
    "changeme",
    "nouveau",
];

/// Whether the password is a common one: a listed password (or a l33t/case variant of one,
/// according to the frequency list zxcvbn ships), a keyboard walk, or one of those with only
/// digits and symbols added before or after it ("Azerty123!", "Motdepasse1!", "!qwerty2026").
pub fn is_common(password: &str) -> bool {
    let core = password
        .trim_matches(|c: char| !c.is_alphabetic())
        .to_lowercase();
    listed_or_walk(password)
        || core.chars().count() >= 3
            && (FRENCH_COMMON.contains(&core.as_str())
                || core != password.to_lowercase() && listed_or_walk(&core))
}

/// zxcvbn matches the whole text as a listed password (its "Passwords" dictionary, within
/// `COMMON_RANK_LIMIT`) or as one keyboard walk.
fn listed_or_walk(text: &str) -> bool {
    let entropy = zxcvbn::zxcvbn(text, &[]);
    let length = text.chars().count();
    entropy.sequence().iter().any(|m| {
        let whole = m.i == 0 && m.j + 1 == length;
        // zxcvbn keeps its dictionary type in a private module; its Debug name is stable.
        whole
            && match &m.pattern {
                zxcvbn::matching::patterns::MatchPattern::Dictionary(d) => {
                    format!("{:?}", d.dictionary_name) == "Passwords"
                        && d.rank <= COMMON_RANK_LIMIT
                        && !d.reversed
                }
                zxcvbn::matching::patterns::MatchPattern::Spatial(_) => length >= 4,
                _ => false,
            }
    })
}

/// The configured profiles and which one applies by default.
#[derive(Debug, Clone)]
pub struct Policies {
    profiles: BTreeMap<String, PolicyConfig>,
    default: String,
}

impl Policies {
    pub fn new(profiles: BTreeMap<String, PolicyConfig>, default: String) -> Result<Self, String> {
        for (name, p) in &profiles {
            p.validate(name)?;
        }
        if !profiles.contains_key(&default) {
            return Err(format!(
                "credentials.default_password_policy `{default}` is not a configured profile"
            ));
        }
        Ok(Self { profiles, default })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.profiles.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    /// The strictest of the named profiles, or the default profile when none is named (unknown
    /// names are ignored: provisioning refuses them).
    pub fn strictest<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Policy {
        let mut named = names
            .into_iter()
            .filter(|n| self.profiles.contains_key(*n))
            .peekable();
        let first = named.peek().copied().unwrap_or(self.default.as_str());
        let mut best = (first, &self.profiles[first]);
        for name in named {
            if let Some(p) = self.profiles.get(name)
                && p.strictness() > best.1.strictness()
            {
                best = (name, p);
            }
        }
        Policy {
            name: best.0.to_owned(),
            config: best.1.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies() -> Policies {
        Policies::new(default_profiles(), "cooperation".into()).unwrap()
    }

    fn check(profile: &str, password: &str) -> Vec<Failure> {
        let person = PersonalContext {
            email_local_part: "claire.dubois",
            names: &["Claire", "Dubois"],
        };
        let policy = Policy {
            name: profile.into(),
            config: default_profiles()[profile].clone(),
        };
        policy.check(password, &person)
    }

    #[test]
    fn cooperation_needs_four_classes() {
        assert_eq!(check("cooperation", "Tr0mpette-Bleue"), vec![]);
        assert_eq!(
            check("cooperation", "trompette-bleue9"),
            vec![Failure::MissingClass(CharClass::Upper)]
        );
        assert_eq!(check("cooperation", "Ab1!"), vec![Failure::TooShort(8)]);
    }

    #[test]
    fn monenfant_is_alphanumeric_and_case_sensitive() {
        assert_eq!(check("monenfant", "Lilas42Vent"), vec![]);
        assert_eq!(
            check("monenfant", "Lilas42-Vent"),
            vec![Failure::NotAlphanumeric]
        );
    }

    #[test]
    fn administrator_accepts_long_passphrases_without_classes() {
        assert!(check("administrator", "Tr0mpette-Bleue").is_empty());
        assert_eq!(
            check("administrator", "Tr0mpette!"),
            vec![Failure::TooShort(12)]
        );
        assert!(check("administrator", "chevaux lents sur la digue").is_empty());
    }

    #[test]
    fn common_and_personal_passwords_are_refused() {
        assert!(check("monenfant", "password1").contains(&Failure::Common));
        assert!(is_common("qwerty123"), "a listed password");
        assert!(
            is_common("P@ssw0rd"),
            "a l33t and case variant of a listed password"
        );
        assert!(is_common("AZERTY"), "case does not matter");
        assert!(!is_common("Tr0mpette-Bleue"));
        // The examples the password page gives are refused, and their neighbours too.
        for example in [
            "Azerty123!",
            "Motdepasse1",
            "Motdepasse1!",
            "!Azerty2026",
            "Qwerty123!",
            "asdfgh",
            "Bonjour2026!",
            "Soleil-1",
        ] {
            assert!(is_common(example), "{example}");
        }
        for kept in [
            "Tr0mpette-Bleue",
            "Bienvenue2026Caf",
            "DemoPasserelle2026",
            "Demo-Passerelle-2026!",
        ] {
            assert!(!is_common(kept), "{kept}");
        }
        assert!(check("cooperation", "Dubois-2026!").contains(&Failure::Personal));
        assert!(check("cooperation", "Xx-claire-99").contains(&Failure::Personal));
    }

    #[test]
    fn the_strictest_profile_wins() {
        let p = policies();
        assert_eq!(
            p.strictest(["monenfant"]).name,
            "monenfant",
            "a service's own profile"
        );
        assert_eq!(
            p.strictest([]).name,
            "cooperation",
            "the default without any"
        );
        assert_eq!(
            p.strictest(["monenfant", "cooperation"]).name,
            "cooperation"
        );
        assert_eq!(
            p.strictest(["monenfant", "administrator"]).name,
            "administrator"
        );
    }
}
