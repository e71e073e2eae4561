//! The CAPTCHA, spent at its first answer. Two ways through, without any third-party service:
//!
//! - a proof of work that the page's script computes by itself (`/static/captcha.js`): it finds
//!   a nonce such that SHA-256(`salt:nonce`) starts with `throttling.captcha_work_bits` zero
//!   bits and fills a hidden field. A person has nothing to read or type, which is what makes
//!   it the accessible way (screen readers, low vision, cognitive impairments: RGAA 11.13 asks
//!   for an alternative to a visual CAPTCHA); a script has nothing to parse and must pay the
//!   same 2^bits hashes per attempt, on top of the throttling;
//! - an image with a code to copy, for browsers without script.
//!
//! The earlier text question ("combien font X plus Y ?") is gone: a script read it.

use crate::crypto::{random_token_of, sha256};
use crate::state::AppState;
use crate::store::{Challenge, StoreResult};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

const LIFETIME_SECONDS: i64 = 600;
/// The script that computes the proof of work (no dependency; WebCrypto's SHA-256).
pub const SCRIPT: &str = include_str!("captcha.js");

/// What a form shows of a challenge.
pub struct CaptchaView {
    pub id: String,
    pub work_salt: String,
    pub work_bits: u8,
}

/// What a form sends back: the challenge, and the code typed or the nonce computed.
#[derive(Debug, Clone, Copy, Default)]
pub struct CaptchaAnswer<'a> {
    pub id: Option<&'a str>,
    pub code: Option<&'a str>,
    pub work: Option<&'a str>,
}

fn normalise(answer: &str) -> String {
    answer
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase()
}

pub async fn new_challenge(state: &AppState) -> anyhow::Result<CaptchaView> {
    let (text, png) = tokio::task::spawn_blocking(|| {
        let c = captcha::generate(captcha::Difficulty::Easy);
        (c.chars_as_string(), c.as_png())
    })
    .await?;
    let png = png.ok_or_else(|| anyhow::anyhow!("CAPTCHA image could not be encoded"))?;
    let id = random_token_of(16);
    let work_salt = random_token_of(16);
    let work_bits = state.settings.throttling.captcha_work_bits;
    let challenge = Challenge {
        answers: vec![normalise(&text)],
        work_salt: work_salt.clone(),
        work_bits,
        png,
        expires_at: state.clock.now() + LIFETIME_SECONDS,
        ceremony: None,
    };
    state
        .stores
        .challenges
        .put_challenge(&id, &challenge)
        .await?;
    Ok(CaptchaView {
        id,
        work_salt,
        work_bits,
    })
}

/// Whether SHA-256(`salt:nonce`) starts with `bits` zero bits; the nonce is decimal digits.
pub fn work_is_done(salt: &str, nonce: &str, bits: u8) -> bool {
    if salt.is_empty() || nonce.is_empty() || nonce.len() > 20 {
        return false;
    }
    if !nonce.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digest = sha256(format!("{salt}:{nonce}").as_bytes());
    leading_zero_bits(&digest) >= u32::from(bits)
}

fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// Checks an answer and spends the challenge whatever the outcome.
pub async fn verify(state: &AppState, answer: CaptchaAnswer<'_>) -> StoreResult<bool> {
    let Some(id) = answer.id else {
        return Ok(false);
    };
    let Some(challenge) = state.stores.challenges.take_challenge(id).await? else {
        return Ok(false);
    };
    if let Some(nonce) = answer.work.map(str::trim).filter(|n| !n.is_empty())
        && challenge.work_bits > 0
    {
        return Ok(work_is_done(
            &challenge.work_salt,
            nonce,
            challenge.work_bits,
        ));
    }
    let code = normalise(answer.code.unwrap_or_default());
    Ok(!code.is_empty() && challenge.answers.contains(&code))
}

/// The form fields of a challenge. With script, the proof of work fills `captcha_work` and the
/// code becomes optional; without, the code of the image is required.
pub fn fields(view: &CaptchaView) -> Markup {
    html! {
        fieldset class="captcha" data-work-salt=(view.work_salt) data-work-bits=(view.work_bits) {
            legend { "Vérification anti-robot" }
            input type="hidden" name="captcha_id" value=(view.id);
            input type="hidden" name="captcha_work" value="";
            p class="captcha-status" role="status" aria-live="polite" {
                "Votre navigateur fait la vérification tout seul si les scripts sont activés : vous n'avez alors rien à recopier. Sinon, recopiez le code de l'image."
            }
            img src={ "/captcha/" (view.id) } width="220" height="120"
                alt="Code de vérification en image, à recopier si la vérification automatique n'a pas eu lieu.";
            label for="captcha" { "Code de l'image" }
            input type="text" id="captcha" name="captcha" autocomplete="off" required
                autocapitalize="none" spellcheck="false";
        }
        script src="/static/captcha.js" defer {}
    }
}

pub async fn image(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.stores.challenges.get_challenge(&id).await {
        Ok(Some(c)) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            c.png,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => super::internal_error_page(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the page's script does, in Rust.
    fn solve(salt: &str, bits: u8) -> String {
        (0u64..)
            .map(|n| n.to_string())
            .find(|n| work_is_done(salt, n, bits))
            .unwrap()
    }

    #[test]
    fn a_found_nonce_proves_the_work_and_little_else_does() {
        let nonce = solve("sel-de-test", 12);
        assert!(work_is_done("sel-de-test", &nonce, 12));
        for bad in ["", "abc", "-1", "1 2", "123456789012345678901"] {
            assert!(!work_is_done("sel-de-test", bad, 8), "{bad:?}");
        }
        assert_eq!(leading_zero_bits(&[0, 0x0f, 0xff]), 12);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
    }

    #[test]
    fn the_expected_work_grows_with_the_bits() {
        // Over many salts, 12 bits take about 4,096 tries on average; 8 bits about 256.
        let tries = |bits: u8| -> u64 {
            (0..40)
                .map(|i| solve(&format!("sel-{i}"), bits).parse::<u64>().unwrap() + 1)
                .sum::<u64>()
                / 40
        };
        let (eight, twelve) = (tries(8), tries(12));
        assert!(twelve > eight * 4, "{eight} then {twelve}");
    }
}
