//! The login page: email and password, a CSRF token, one generic message on failure.

use super::captcha::{self, CaptchaView};
use super::error::{PageError, PageResult};
use super::extract::CsrfForm;
use super::{browser, error_page, page, session};
use crate::accounts::throttle::{self, Gate};

use crate::accounts::{self, lifecycle, password::Password};
use crate::flow::{self, ACR_PASSWORD, Next};
use crate::state::AppState;
use crate::store::Outcome;
use crate::store::PendingLogin;
use crate::traces::Event;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use maud::{Markup, html};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};

pub const GENERIC_FAILURE: &str = "L'adresse électronique ou le mot de passe est incorrect.";

pub fn router() -> Router<AppState> {
    Router::new().route("/login", get(show).post(submit))
}

#[derive(Deserialize)]
struct LoginQuery {
    request: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    request: Option<String>,
    csrf: Option<String>,
    email: Option<String>,
    password: Option<String>,
    captcha_id: Option<String>,
    captcha: Option<String>,
    captcha_work: Option<String>,
}

pub(super) fn expired_request() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Demande de connexion expirée",
        "Cette demande de connexion a expiré ou a été ouverte dans un autre navigateur.",
        "Revenez à l'application que vous vouliez utiliser et cliquez de nouveau sur « Se connecter ».",
    )
}

/// What the login page shows.
struct LoginView<'a> {
    csrf: &'a str,
    request: Option<&'a str>,
    email: &'a str,
    error: Option<&'a str>,
    captcha: Option<&'a CaptchaView>,
    /// Whether passkeys can be used here (the issuer has a domain name).
    passkeys: bool,
}

fn form(v: &LoginView<'_>) -> Markup {
    html! {
        @if let Some(error) = v.error {
            div class="error" role="alert" id="erreur" tabindex="-1" autofocus {
                p { (error) }
            }
        }
        form method="post" action="/login" {
            input type="hidden" name="csrf" value=(v.csrf);
            @if let Some(request) = v.request {
                input type="hidden" name="request" value=(request);
            }
            label for="email" {
                "Adresse électronique professionnelle"
                span class="hint" { "Par exemple : prenom.nom@mairie.fr" }
            }
            input type="email" id="email" name="email" autocomplete="username" required
                value=(v.email) aria-describedby=[v.error.map(|_| "erreur")]
                aria-invalid=[v.error.map(|_| "true")];
            label for="password" { "Mot de passe" }
            input type="password" id="password" name="password" autocomplete="current-password" required
                aria-describedby=[v.error.map(|_| "erreur")] aria-invalid=[v.error.map(|_| "true")];
            @if let Some(captcha) = v.captcha {
                (captcha::fields(captcha))
            }
            button type="submit" { "Se connecter" }
        }
        p { a href="/mot-de-passe-oublie" { "Mot de passe oublié ?" } }
        @if v.passkeys {
            p { a href={ "/login/cle-d-acces" @if let Some(r) = v.request { "?request=" (r) } } { "Se connecter avec une clé d'accès" } }
        }
    }
}

/// The page of a person whose password was right but whose account is suspended or closed:
/// what happened, and whom to contact (the partner's administrators, or the Caf).
async fn blocked(state: &AppState, email: &str) -> PageResult {
    let account = match crate::types::Email::parse(email) {
        Ok(e) => state.stores.accounts.find_account_by_email(&e).await?,
        Err(_) => None,
    };
    let Some(account) = account else {
        return Err(PageError::login());
    };
    blocked_account(state, &account).await
}

/// The page of a person whose account is suspended or closed, once they proved who they are.
pub(super) async fn blocked_account(
    state: &AppState,
    account: &crate::store::Account,
) -> PageResult {
    // The same people the mails name: the conventions' habilitation officers, or else the
    // partner's administrators.
    let contacts = match &account.profile.partner {
        Some(partner) => {
            let context = crate::habilitations::PartnerContext::load(state, partner).await?;
            crate::habilitations::notify::contacts(state, &context, account).await?
        }
        None => Vec::new(),
    };
    let (title, message) = if account.closed_at.is_some() {
        (
            "Compte fermé",
            "Votre compte a été fermé : il ne donne plus accès aux services de la Caf.",
        )
    } else {
        (
            "Compte suspendu",
            "Votre compte est suspendu à titre conservatoire : il ne donne pas accès aux services de la Caf pour le moment.",
        )
    };
    let advice = html! {
        @if contacts.is_empty() {
            p { "Pour en savoir plus, adressez-vous à votre Caf." }
        } @else {
            p { "Pour en savoir plus ou demander sa réactivation, adressez-vous à :" }
            ul { @for c in &contacts { li { (c) } } }
        }
        p { a href="/login" { "Revenir à la page de connexion" } }
    };
    Ok(super::error::error_page_with(
        StatusCode::FORBIDDEN,
        title,
        message,
        advice,
    ))
}

fn render(status: StatusCode, view: &LoginView<'_>) -> Response {
    (status, Html(page("Connexion", form(view)).into_string())).into_response()
}

/// Whose counters a login attempt is held by besides its IP: the identifier's, or, from a
/// browser holding a device cookie for that identifier, that cookie's own.
fn attempt_key(identifier: &str, device: Option<&str>) -> String {
    match device {
        Some(nonce) => throttle::device_key(nonce),
        None => throttle::identifier_key(identifier),
    }
}

/// The combined gate of an identifier (or the browser's device cookie for it, see
/// [`attempt_key`]) and a client IP.
async fn gate_for(
    state: &AppState,
    identifier: Option<&str>,
    device: Option<&str>,
    ip: IpAddr,
) -> Result<Gate, crate::store::StoreError> {
    let rules = &state.settings.throttling;
    let now = state.clock.now();
    let by_ip = state
        .stores
        .throttle
        .attempts(&throttle::ip_key(ip), now)
        .await?;
    let mut gate = throttle::gate(&by_ip, now, &rules.for_ip());
    if let Some(identifier) = identifier {
        let key = attempt_key(identifier, device);
        gate = gate.and(throttle::gate(
            &state.stores.throttle.attempts(&key, now).await?,
            now,
            rules,
        ));
    }
    Ok(gate)
}

fn closed_message(until: i64, now: i64) -> String {
    let wait = ((until - now).max(1) as u64).div_ceil(60);
    format!(
        "Trop de tentatives de connexion. Par sécurité, réessayez dans {wait} minute{}. Si un compte correspond à cette adresse, un courriel permettant de le débloquer a pu lui être envoyé ; vous pouvez aussi demander un nouveau mot de passe.",
        if wait > 1 { "s" } else { "" }
    )
}

pub(super) async fn pending_for(
    state: &AppState,
    jar: &CookieJar,
    request: &str,
) -> PageResult<Option<PendingLogin>> {
    let pending = state
        .stores
        .pending_logins
        .get_pending_login(request)
        .await?;
    let browser = browser::browser_id(jar).map(|id| browser::binding(&id));
    Ok(pending.filter(|p| Some(&p.browser) == browser.as_ref()))
}

async fn show(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    Query(query): Query<LoginQuery>,
) -> PageResult {
    let (jar, browser_id) = browser::ensure(&state, jar);
    let mut email = String::new();
    if let Some(request) = &query.request {
        match pending_for(&state, &jar, request).await? {
            Some(p) => email = p.login_hint.unwrap_or_default(),
            None => return Ok(expired_request()),
        }
    }
    let csrf = browser::csrf_for(&state, &browser_id);
    let captcha = match gate_for(&state, None, None, peer.ip()).await? {
        Gate::Open { captcha: false } => None,
        _ => Some(captcha::new_challenge(&state).await?),
    };
    let view = LoginView {
        csrf: &csrf,
        request: query.request.as_deref(),
        email: &email,
        error: None,
        captcha: captcha.as_ref(),
        passkeys: state.passkeys.is_some(),
    };
    Ok((jar, render(StatusCode::OK, &view)).into_response())
}

async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> PageResult {
    let origin = super::origin(&headers, Some(peer));
    let csrf = form.csrf.unwrap_or_default();
    let pending = match &form.request {
        Some(request) => match pending_for(&state, &jar, request).await? {
            Some(p) => Some(p),
            None => return Ok(expired_request()),
        },
        None => None,
    };
    let email = form.email.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let ip = peer.ip();
    // Answers the form again, with a fresh CAPTCHA when the counters ask for one.
    let again = |status: StatusCode, error: String, captcha_needed: bool| {
        let (state, csrf, request, email) = (
            state.clone(),
            csrf.clone(),
            form.request.clone(),
            email.clone(),
        );
        async move {
            let captcha = if captcha_needed {
                Some(captcha::new_challenge(&state).await?)
            } else {
                None
            };
            let view = LoginView {
                csrf: &csrf,
                request: request.as_deref(),
                email: &email,
                error: Some(&error),
                captcha: captcha.as_ref(),
                passkeys: state.passkeys.is_some(),
            };
            Ok(render(status, &view))
        }
    };
    if email.trim().is_empty() || password.is_empty() {
        let needed = !matches!(
            gate_for(&state, None, None, ip).await,
            Ok(Gate::Open { captcha: false })
        );
        return again(
            StatusCode::BAD_REQUEST,
            "Saisissez votre adresse électronique et votre mot de passe.".into(),
            needed,
        )
        .await;
    }
    let device = crate::session::device::recognised(&state, &jar, &email, state.clock.now());
    match gate_for(&state, Some(&email), device.as_deref(), ip).await? {
        Gate::Closed { until, .. } => {
            tracing::info!(
                reason = "throttled",
                "login refused before checking the password"
            );
            trace_login_failure(&state, &email, "throttled", &origin);
            return again(
                StatusCode::TOO_MANY_REQUESTS,
                closed_message(until, state.clock.now()),
                true,
            )
            .await;
        }
        Gate::Open { captcha: true } => {
            let answer = captcha::CaptchaAnswer {
                id: form.captcha_id.as_deref(),
                code: form.captcha.as_deref(),
                work: form.captcha_work.as_deref(),
            };
            let solved = captcha::verify(&state, answer).await;
            if !solved? {
                trace_login_failure(&state, &email, "captcha", &origin);
                let message = if form.captcha_id.is_some() {
                    "La vérification anti-robot n'a pas abouti. Saisissez de nouveau votre mot de passe ; une nouvelle vérification se fait d'elle-même (sinon, recopiez le code de l'image)."
                } else {
                    "Par sécurité, après plusieurs essais infructueux, saisissez de nouveau votre mot de passe : une vérification anti-robot se fait d'elle-même (sinon, recopiez le code de l'image)."
                };
                return again(StatusCode::BAD_REQUEST, message.into(), true).await;
            }
        }
        Gate::Open { captcha: false } => {}
    }
    let password = Password::new(password);
    let outcome = accounts::authenticate(
        state.stores.accounts.as_ref(),
        &state.hasher,
        &email,
        password.clone(),
        state.clock.now(),
    )
    .await;
    let attempt_key = attempt_key(&email, device.as_deref());
    let ip_key = throttle::ip_key(ip);
    let account = match outcome? {
        Err(failure) => {
            tracing::info!(reason = failure.reason_code(), "login failed");
            trace_login_failure(&state, &email, failure.reason_code(), &origin);
            // The password was right: the person may know why they cannot go in, and whom to
            // ask (wrong passwords keep the one generic answer).
            if failure == accounts::LoginFailure::Suspended {
                return blocked(&state, &email).await;
            }
            let now = state.clock.now();
            let rules = state.settings.throttling.clone();
            let counted = async {
                let by_id = state
                    .stores
                    .throttle
                    .record_failure(&attempt_key, now)
                    .await?;
                let by_ip = state.stores.throttle.record_failure(&ip_key, now).await?;
                Ok::<_, crate::store::StoreError>((by_id, by_ip))
            };
            let (by_id, by_ip) = counted.await?;
            if by_id.consecutive == rules.lock_after {
                state.metrics.locks.inc();
            }
            // The unlock link lifts the identifier's lock; a device cookie's lock is its
            // holder's own mistakes, and lapses by itself.
            if by_id.consecutive == rules.lock_after && device.is_none() {
                // In the background, so that the response takes the same time whether or not
                // the identifier names an account.
                let (background, identifier) = (state.clone(), email.clone());
                let until = now + rules.lock_seconds as i64;
                tokio::spawn(async move {
                    if let Err(e) = lifecycle::send_unlock(&background, &identifier, until).await {
                        tracing::error!(error = %e, "unlock link not sent");
                    }
                });
            }
            let gate = throttle::gate(&by_id, now, &rules).and(throttle::gate(
                &by_ip,
                now,
                &rules.for_ip(),
            ));
            return Ok(match gate {
                Gate::Closed { until, .. } => {
                    again(
                        StatusCode::TOO_MANY_REQUESTS,
                        closed_message(until, state.clock.now()),
                        true,
                    )
                    .await?
                }
                Gate::Open { captcha } => {
                    again(StatusCode::UNAUTHORIZED, GENERIC_FAILURE.into(), captcha).await?
                }
            });
        }
        Ok(account) => account,
    };
    state.metrics.login("success", "none");
    state
        .tracer
        .record(
            Event::new("auth.login", Outcome::Success)
                .account(&account)
                .origin(&origin),
        )
        .await;
    let cleared = async {
        state.stores.throttle.record_success(&attempt_key).await?;
        state.stores.throttle.record_success(&ip_key).await
    };
    cleared.await?;
    // A new login always gets a new session id (no session fixation), and ends the session the
    // browser had, whoever it belonged to.
    let previous = session::current_any(&state, &jar).await?;
    if let Some(previous) = previous
        && let Err(e) = session::end(&state, &previous.sid).await
    {
        return Err(PageError::internal(e));
    }
    // This browser is now known for this identifier (a fresh device cookie at every login).
    let jar = crate::session::device::remember(&state, jar, &email, state.clock.now());
    let second_factor =
        crate::accounts::passkey::has_second_factor(&state.stores, &account).await?;
    let started = session::start(
        &state,
        jar,
        &account,
        ACR_PASSWORD,
        vec!["pwd".into()],
        second_factor,
    )
    .await;
    let (jar, new_session) = started?;
    tracing::info!(account = %account.id, sid = %new_session.sid, second_factor, "password accepted");
    // Raising the Argon2id cost in configuration upgrades each hash at its owner's next login.
    if account
        .password_hash
        .as_deref()
        .is_some_and(|h| state.hasher.needs_rehash(h))
    {
        match state.hasher.hash(password).await {
            Ok(hash) => {
                if let Err(e) = state
                    .stores
                    .accounts
                    .rehash_password(&account.id, &hash)
                    .await
                {
                    tracing::warn!(error = %e, "password hash upgrade not stored");
                }
            }
            Err(e) => tracing::warn!(error = %e, "password hash upgrade failed"),
        }
    }
    // A temporary password opens one session only.
    if account.temporary_password_expires_at.is_some()
        && let Err(e) = state
            .stores
            .accounts
            .spend_temporary_password(&account.id, state.clock.now())
            .await
    {
        return Err(PageError::internal(e));
    }
    let pending = form.request.as_deref().zip(pending);
    if second_factor {
        let target = match &pending {
            Some((r, _)) => format!("/login/otp?request={r}"),
            None => "/login/otp".to_owned(),
        };
        return Ok((jar, Redirect::to(&target)).into_response());
    }
    continue_login(&state, jar, &account, &new_session, pending).await
}

/// `continue_login` for a step that has only the request id: the pending login is read here.
pub(super) async fn continue_request(
    state: &AppState,
    jar: CookieJar,
    account: &crate::store::Account,
    session: &crate::store::Session,
    request: Option<&str>,
) -> PageResult {
    let pending = match request {
        Some(r) => pending_for(state, &jar, r).await?.map(|p| (r, p)),
        None => None,
    };
    continue_login(state, jar, account, session, pending).await
}

/// After every authentication step: a forced password change comes first, then the second
/// factor a service or the request demands, then the code for the pending authorization
/// (`pending`: its id and the pending login, read once by the caller).
pub(super) async fn continue_login(
    state: &AppState,
    jar: CookieJar,
    account: &crate::store::Account,
    session: &crate::store::Session,
    pending: Option<(&str, PendingLogin)>,
) -> PageResult {
    let Some((request, pending)) = pending else {
        // No authorization waits: the forced password change if it is due, else the console
        // for those who administer (they came for it), the welcome page for the others.
        let page = if account.must_change_password {
            "/compte/mot-de-passe"
        } else if !account.profile.admin_roles.is_empty() {
            "/console"
        } else {
            "/"
        };
        return Ok((jar, Redirect::to(page)).into_response());
    };
    let with_request = |page: &str| format!("{page}?request={request}");
    let next = flow::next(state, account, session, &pending.request).await?;
    let done = match next {
        Next::ChangePassword => "/compte/mot-de-passe",
        Next::SecondFactor => "/login/otp",
        Next::Enrol => "/compte/double-authentification",
        Next::EnrolPasskey => "/compte/cles-d-acces",
        Next::NotHabilitated { .. } | Next::Code { .. } => "",
    };
    if !done.is_empty() {
        return Ok((jar, Redirect::to(&with_request(done))).into_response());
    }
    // The authorization is over either way: its pending login is spent.
    state
        .stores
        .pending_logins
        .remove_pending_login(request)
        .await?;
    match next {
        Next::Code { response } => Ok((jar, super::deliver(&response)).into_response()),
        Next::NotHabilitated { service } => {
            Ok((jar, super::not_habilitated_page(&service)).into_response())
        }
        _ => unreachable!("the other steps returned above"),
    }
}

/// Traces a failed login from a background task: whether the identifier names an account
/// (the actor of the trace) is looked up after the answer, so that timing tells nothing. The
/// identifier typed is not recorded when it names nobody.
fn trace_login_failure(
    state: &AppState,
    email: &str,
    reason: &'static str,
    origin: &crate::traces::Origin,
) {
    state.metrics.login("failure", reason);
    let (state, email, origin) = (state.clone(), email.to_owned(), origin.clone());
    tokio::spawn(async move {
        let account = match crate::types::Email::parse(&email) {
            Ok(e) => state
                .stores
                .accounts
                .find_account_by_email(&e)
                .await
                .ok()
                .flatten(),
            Err(_) => None,
        };
        let mut event = Event::new("auth.login", Outcome::Failure)
            .reason(reason)
            .origin(&origin);
        if let Some(account) = &account {
            event = event.account(account);
        }
        state.tracer.record(event).await;
    });
}
