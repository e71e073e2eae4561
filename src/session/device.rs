//! Device cookies (OWASP, "Slow down online guessing attacks with device cookies"): a browser
//! where someone logged in successfully keeps a signed cookie for that identifier. From that
//! browser, the identifier's lock (which a stranger can trigger with the email alone, from
//! rotating addresses) does not apply: the browser has counters of its own, under the same
//! CNIL limits (CAPTCHA, growing delay, lock after `lock_after` failures, daily cap). A shared
//! municipal computer keeps the cookies of its last few users.
//!
//! The cookie `passerelle_device` holds up to [`KEEP`] entries `nonce.expires.tag`, where `tag`
//! is an HMAC, under the server secret, of the identifier, the nonce and the expiry: the
//! identifier itself is not in the cookie, and no entry can be moved to another identifier.

use super::browser;
use crate::crypto::{b64url, b64url_decode, hmac_sign, hmac_verify, random_token_of};
use crate::state::AppState;
use axum_extra::extract::CookieJar;

pub const DEVICE_COOKIE: &str = "passerelle_device";
/// Entries kept per browser (the most recent logins).
const KEEP: usize = 5;

struct Entry<'a> {
    nonce: &'a str,
    expires: i64,
    tag: &'a str,
}

fn entries(value: &str) -> impl Iterator<Item = Entry<'_>> {
    value.split('~').take(KEEP).filter_map(|raw| {
        let mut parts = raw.splitn(3, '.');
        let (nonce, expires, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if nonce.len() != 22 || !nonce.bytes().all(crate::crypto::is_base64url_byte) {
            return None;
        }
        Some(Entry {
            nonce,
            expires: expires.parse().ok()?,
            tag,
        })
    })
}

fn message(identifier: &str, nonce: &str, expires: i64) -> Vec<u8> {
    format!(
        "device|{}|{nonce}|{expires}",
        identifier.trim().to_lowercase()
    )
    .into_bytes()
}

fn signed(entry: &Entry<'_>, state: &AppState, identifier: &str) -> bool {
    b64url_decode(entry.tag).is_some_and(|tag| {
        hmac_verify(
            &state.csrf_key,
            &message(identifier, entry.nonce, entry.expires),
            &tag,
        )
    })
}

/// The nonce of this browser's device cookie for `identifier`, if it holds a valid one.
pub fn recognised(state: &AppState, jar: &CookieJar, identifier: &str, now: i64) -> Option<String> {
    if state.settings.throttling.device_cookie_days == 0 {
        return None;
    }
    let cookie = jar.get(DEVICE_COOKIE)?;
    entries(cookie.value())
        .find(|e| e.expires > now && signed(e, state, identifier))
        .map(|e| e.nonce.to_owned())
}

/// After a successful login: a fresh entry for `identifier` (replacing its earlier one), the
/// others kept while they last, the oldest dropped past [`KEEP`].
pub fn remember(state: &AppState, jar: CookieJar, identifier: &str, now: i64) -> CookieJar {
    let days = state.settings.throttling.device_cookie_days;
    if days == 0 {
        return jar;
    }
    let expires = now + i64::from(days) * 86_400;
    let nonce = random_token_of(16);
    let tag = b64url(&hmac_sign(
        &state.csrf_key,
        &message(identifier, &nonce, expires),
    ));
    let mut kept = vec![format!("{nonce}.{expires}.{tag}")];
    if let Some(cookie) = jar.get(DEVICE_COOKIE) {
        kept.extend(
            entries(cookie.value())
                .filter(|e| e.expires > now && !signed(e, state, identifier))
                .take(KEEP - 1)
                .map(|e| format!("{}.{}.{}", e.nonce, e.expires, e.tag)),
        );
    }
    let mut cookie = browser::cookie(state, DEVICE_COOKIE, kept.join("~"));
    cookie.set_max_age(time_of(days));
    jar.add(cookie)
}

fn time_of(days: u32) -> time::Duration {
    time::Duration::days(i64::from(days))
}
