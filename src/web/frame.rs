//! The two frames of every page: the public one (login, account, errors) and the console's,
//! whose navigation the console builds. Nothing here reads a store or a session.

use maud::{DOCTYPE, Markup, html};

/// The common frame of every page: French, one `main` landmark, no script (the CAPTCHA's
/// proof of work is the one script, and every page works without it).
pub fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – Passerelle" }
                link rel="stylesheet" href="/static/passerelle.css";
            }
            body {
                header class="banner" {
                    p class="brand" { "Passerelle" }
                    p class="tagline" { "Accès aux services de la Caf pour ses partenaires" }
                }
                main id="contenu" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The console frame: wider than the login pages, with the console's navigation.
pub fn console(title: &str, nav: Option<Markup>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – Console Passerelle" }
                link rel="stylesheet" href="/static/passerelle.css";
            }
            body {
                a class="skip" href="#contenu" { "Aller au contenu" }
                header class="banner" {
                    p class="brand" { "Passerelle – console des habilitations" }
                    @if let Some(nav) = nav { (nav) }
                }
                main id="contenu" class="console" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}
