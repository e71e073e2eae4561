//! The CAPTCHA: an image drawn server-side, and for people who cannot read it a simple
//! question in French text; either answer is accepted, once.

use crate::crypto::{random_bytes, random_token_of};
use crate::state::AppState;
use crate::store::{Challenge, StoreResult, now};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

const LIFETIME_SECONDS: i64 = 600;
const NUMBERS: [&str; 10] = [
    "zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf",
];

/// What a form shows of a challenge.
pub struct CaptchaView {
    pub id: String,
    pub question: String,
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
    let r = random_bytes(2);
    let (a, b) = (usize::from(r[0] % 9) + 1, usize::from(r[1] % 9) + 1);
    let question = format!(
        "Combien font {} plus {} ? Répondez en chiffres.",
        NUMBERS[a], NUMBERS[b]
    );
    let id = random_token_of(16);
    let challenge = Challenge {
        answers: vec![normalise(&text), (a + b).to_string()],
        question: question.clone(),
        png,
        expires_at: now() + LIFETIME_SECONDS,
    };
    state
        .stores
        .challenges
        .put_challenge(&id, &challenge)
        .await?;
    Ok(CaptchaView { id, question })
}

/// Checks an answer and spends the challenge whatever the outcome.
pub async fn verify(state: &AppState, id: Option<&str>, answer: Option<&str>) -> StoreResult<bool> {
    let (Some(id), Some(answer)) = (id, answer) else {
        return Ok(false);
    };
    let Some(challenge) = state.stores.challenges.take_challenge(id).await? else {
        return Ok(false);
    };
    let answer = normalise(answer);
    Ok(!answer.is_empty() && challenge.answers.contains(&answer))
}

/// The form fields of a challenge.
pub fn fields(view: &CaptchaView) -> Markup {
    html! {
        fieldset class="captcha" {
            legend { "Vérification" }
            input type="hidden" name="captcha_id" value=(view.id);
            img src={ "/captcha/" (view.id) } width="220" height="120"
                alt="Code de vérification en image. Si vous ne pouvez pas le lire, répondez à la question écrite ci-dessous.";
            p id="captcha-question" { "Vous ne pouvez pas lire l'image ? " (view.question) }
            label for="captcha" { "Recopiez le code de l'image, ou répondez à la question" }
            input type="text" id="captcha" name="captcha" autocomplete="off" required
                aria-describedby="captcha-question";
        }
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
