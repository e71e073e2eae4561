//! The two frames of every page: the public one (login, account, errors) and the console's,
//! whose navigation the console builds. Nothing here reads a store or a session.

use maud::{DOCTYPE, Markup, html};

/// French, one `main` landmark, no script (the CAPTCHA's proof of work is the one script, and
/// every page works without it): what both frames share.
fn frame(
    title: &str,
    site: &str,
    banner: Markup,
    main_class: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="fr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – " (site) }
                link rel="stylesheet" href="/static/passerelle.css";
            }
            body {
                @if main_class.is_some() { a class="skip" href="#contenu" { "Aller au contenu" } }
                header class="banner" { (banner) }
                main id="contenu" class=[main_class] {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn public_banner() -> Markup {
    html! {
        p class="brand" { "Passerelle" }
        p class="tagline" { "Accès aux services de la Caf pour ses partenaires" }
    }
}

/// The frame of the public pages.
pub fn page(title: &str, body: Markup) -> Markup {
    frame(title, "Passerelle", public_banner(), None, body)
}

/// The public frame, wider for a page with a table (the account's sessions).
pub fn wide_page(title: &str, body: Markup) -> Markup {
    frame(title, "Passerelle", public_banner(), Some("wide"), body)
}

/// The console frame: wider than the login pages, with the console's navigation and a link
/// to skip it.
pub fn console(title: &str, nav: Option<Markup>, body: Markup) -> Markup {
    let banner = html! {
        p class="brand" { "Passerelle – console des habilitations" }
        @if let Some(nav) = nav { (nav) }
    };
    frame(title, "Console Passerelle", banner, Some("console"), body)
}
