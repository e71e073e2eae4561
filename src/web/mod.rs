//! Server-rendered pages in French (maud), the browser session, CSRF protection and the
//! security headers every response carries.
//!
//! Architecture Invariant: pages never reach a store directly for protocol decisions; they call
//! `oidc::authorize` to finish an authorization and `accounts` to check a password.

pub mod account;
pub mod captcha;
pub mod console;
pub mod error;
pub mod extract;
pub mod forgot;
pub mod form_post;
pub mod frame;
pub mod login;
pub mod mfa;
pub mod passkey;
pub mod password;
pub mod passwordless;
pub mod second_step;

pub use error::{error_page, internal_error_page, not_habilitated_page};
pub use form_post::deliver;
pub use frame::{page, wide_page};

use crate::session::{self, browser};
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Request, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::html;

const STYLESHEET: &str = include_str!("passerelle.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route(
            "/static/passerelle.css",
            get(|| async { asset("text/css", STYLESHEET) }),
        )
        .route("/captcha/{id}", get(captcha::image))
        .route(
            "/static/captcha.js",
            get(|| async { asset("text/javascript", captcha::SCRIPT) }),
        )
        .route(
            "/static/passkey.js",
            get(|| async { asset("text/javascript", passkey::SCRIPT) }),
        )
        .route(
            "/static/form-post.js",
            get(|| async { asset("text/javascript", form_post::SCRIPT) }),
        )
        .merge(forgot::router())
        .merge(account::router())
        .merge(mfa::router())
        .merge(passkey::router())
        .merge(second_step::router())
        .merge(passwordless::router())
        .merge(login::router())
        .merge(password::router())
        .merge(console::router())
}

/// Where a request came from, for its traces: the peer address, the user agent and the request
/// id set by the request-id layer.
pub fn origin(
    headers: &axum::http::HeaderMap,
    peer: Option<std::net::SocketAddr>,
) -> crate::traces::Origin {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect::<String>())
    };
    crate::traces::Origin {
        ip: peer.map(|p| p.ip().to_string()),
        user_agent: text("user-agent"),
        request_id: text("x-request-id"),
    }
}

/// A stylesheet or script built into the binary, cached for an hour.
fn asset(content_type: &str, text: &'static str) -> Response {
    let content_type = format!("{content_type}; charset=utf-8");
    (
        [
            (header::CONTENT_TYPE, content_type.as_str()),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        text,
    )
        .into_response()
}

async fn home(
    state: axum::extract::State<AppState>,
    jar: axum_extra::extract::CookieJar,
) -> error::PageResult {
    let account = match session::current(&state, &jar).await? {
        Some(s) => state.stores.accounts.get_account(&s.account).await?,
        None => None,
    };
    let body = match account {
        Some(account) => html! {
            p { "Vous êtes connecté·e en tant que " strong { (account.profile.given_name) " " (account.profile.family_name) } " (" (account.profile.email) ")." }
            p { "Vous pouvez maintenant revenir à l'application de votre choix : elle vous reconnaîtra sans vous redemander votre mot de passe." }
            @if !account.profile.admin_roles.is_empty() {
                p { a href="/console" { "Ouvrir la console des habilitations" } }
            }
            p { a href="/compte" { "Mon compte" } }
            form method="post" action="/logout" {
                input type="hidden" name="csrf" value=(browser::csrf_token(&state, &jar).unwrap_or_default());
                button type="submit" { "Se déconnecter" }
            }
        },
        None => html! {
            p { "Passerelle vous permet de vous connecter, avec un compte nominatif, aux services que la Caf ouvre à ses partenaires." }
            p { "Ouvrez l'application que vous souhaitez utiliser : elle vous dirigera ici pour vous identifier." }
            p { a href="/login" { "Se connecter" } }
        },
    };
    Ok(Html(page("Bienvenue sur Passerelle", body).into_string()).into_response())
}

/// Adds the security headers to every response; pages and JSON are never cached, except the
/// assets and documents that say otherwise themselves.
pub async fn security_headers(secure: bool, request: Request<Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Authorization codes travel in URLs: never leak them to a third party through Referer
    // (the console's pages, which carry none, keep their own `same-origin`).
    h.entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
