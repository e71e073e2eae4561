//! French grammar the pages and mails need: elision ("d'attribuer", "qu'administrateur").

/// Whether "de", "que"… elide before these words (a vowel or a mute h).
pub fn elides(words: &str) -> bool {
    words
        .chars()
        .next()
        .is_some_and(|c| "aeiouyhâàéèêîôûAEIOUYHÉ".contains(c))
}

/// "de " before words, elided before a vowel or a mute h: "d'attribuer", "de créer".
pub fn de(words: &str) -> String {
    if elides(words) {
        format!("d'{words}")
    } else {
        format!("de {words}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn de_elides_before_a_vowel() {
        assert_eq!(super::de("attribuer le rôle"), "d'attribuer le rôle");
        assert_eq!(super::de("créer le compte"), "de créer le compte");
    }
}
