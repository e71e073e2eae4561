//! The browser binding cookie and CSRF tokens.
//!
//! Every browser that reaches a form gets a random `passerelle_browser` cookie. A form's CSRF
//! token is an HMAC of that cookie under a server secret: any replica can check it without
//! shared state, and a page of another site cannot produce it. Pending logins are bound to the
//! same cookie so that a login started in one browser cannot be finished in another.

use crate::crypto::{b64url, b64url_decode, hmac_sign, hmac_verify, random_token, sha256};
use crate::state::AppState;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

pub const BROWSER_COOKIE: &str = "passerelle_browser";

/// Builds a cookie with the attributes every Passerelle cookie carries.
pub fn cookie(state: &AppState, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(state.settings.secure_cookies)
        .same_site(SameSite::Lax)
        .build()
}

/// Returns the jar with a browser cookie set if it had none, and the browser id.
pub fn ensure(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    if let Some(id) = jar.get(BROWSER_COOKIE).map(|c| c.value().to_owned())
        && id.len() == 43
    {
        return (jar, id);
    }
    let id = random_token();
    (jar.add(cookie(state, BROWSER_COOKIE, id.clone())), id)
}

pub fn browser_id(jar: &CookieJar) -> Option<String> {
    jar.get(BROWSER_COOKIE).map(|c| c.value().to_owned())
}

/// A digest of the browser id, stored with pending logins.
pub fn binding(browser_id: &str) -> String {
    b64url(&sha256(browser_id.as_bytes()))
}

pub fn csrf_for(state: &AppState, browser_id: &str) -> String {
    b64url(&hmac_sign(
        &state.csrf_key,
        format!("csrf|{browser_id}").as_bytes(),
    ))
}

pub fn csrf_token(state: &AppState, jar: &CookieJar) -> Option<String> {
    browser_id(jar).map(|id| csrf_for(state, &id))
}

pub fn csrf_valid(state: &AppState, jar: &CookieJar, token: Option<&str>) -> bool {
    let (Some(id), Some(token)) = (browser_id(jar), token) else {
        return false;
    };
    let Some(tag) = b64url_decode(token) else {
        return false;
    };
    hmac_verify(&state.csrf_key, format!("csrf|{id}").as_bytes(), &tag)
}
