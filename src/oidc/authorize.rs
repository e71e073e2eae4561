//! The authorization endpoint (OIDC Core §3.1.2): validates the request, reuses the browser
//! session when it satisfies the request, otherwise parks the request and sends the person to
//! the login page. Until the client and its redirect URI are known good, errors are shown as a
//! page; after that they go back to the client (RFC 6749 §4.1.2.1).

use super::error::ErrorCode;
use super::params::Params;
use super::request::{Prompt, Refusal, Validated, refuse, response_mode, validate};
use crate::crypto::random_token;
use crate::flow::{self, AuthorizationResponse, Next};
use crate::session::{self, browser};
use crate::state::AppState;
use crate::store::{PendingLogin, Service, StoreResult};
use crate::types::RedirectUri;
use crate::web;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;

pub fn router() -> Router<AppState> {
    Router::new().route("/authorize", get(authorize_get).post(authorize_post))
}

async fn authorize_get(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    handle(state, jar, query.unwrap_or_default().as_bytes()).await
}

async fn authorize_post(State(state): State<AppState>, jar: CookieJar, body: Bytes) -> Response {
    handle(state, jar, &body).await
}

fn client_error_page(message: &str) -> Response {
    web::error_page(
        StatusCode::BAD_REQUEST,
        "Connexion impossible",
        message,
        "Revenez à l'application d'où vous venez et réessayez. Si le problème persiste, signalez-le à son équipe technique : le lien de connexion qu'elle utilise est incorrect.",
    )
}

/// Appends response parameters to a registered redirect URI (which may carry a query).
pub fn redirect_with(redirect_uri: &RedirectUri, pairs: &[(&str, Option<&str>)]) -> Response {
    Redirect::to(&crate::flow::url_with(redirect_uri, pairs)).into_response()
}

/// An error for the client, in the request's response mode (in the query when the mode
/// itself is wrong).
fn error_redirect(
    state: &AppState,
    (redirect_uri, params): (&RedirectUri, &Params),
    client_state: Option<&str>,
    (code, description): Refusal,
) -> Response {
    tracing::info!(error = code.as_str(), %description, "authorization request refused");
    let mode = response_mode(params).unwrap_or_default();
    web::deliver(&AuthorizationResponse::new(
        redirect_uri,
        mode,
        &[
            ("error", Some(code.as_str())),
            ("error_description", Some(&description)),
            ("state", client_state),
            ("iss", Some(&state.settings.issuer)),
        ],
    ))
}

async fn handle(state: AppState, jar: CookieJar, raw: &[u8]) -> Response {
    let params = match Params::parse(raw) {
        Ok(p) => p,
        Err(m) => {
            return client_error_page(&format!("La demande de connexion est invalide ({m})."));
        }
    };
    let Some(client_id) = params.get("client_id") else {
        return client_error_page(
            "L'application n'a pas indiqué son identifiant (paramètre client_id).",
        );
    };
    let client = match state.clients.get(client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return client_error_page(
                "L'application qui vous a envoyé ici n'est pas enregistrée sur Passerelle.",
            );
        }
        Err(e) => return web::internal_error_page(e),
    };
    // A pushed request (RFC 9126 §4): its parameters replace those of the URL, client_id apart.
    let params = match params.get("request_uri") {
        Some(uri) => match pushed(&state, &client, uri).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                return client_error_page(
                    "La demande de connexion a expiré ou a déjà servi (paramètre request_uri).",
                );
            }
            Err(e) => return web::internal_error_page(e),
        },
        None if client.protocol.require_pushed_authorization_requests => {
            return client_error_page(
                "Cette application doit d'abord déposer sa demande de connexion (pushed authorization request, RFC 9126).",
            );
        }
        None => params,
    };
    // A request object (RFC 9101): once verified, its claims are the request. When it does
    // not verify, the error goes to the redirect URI beside it if that one is registered.
    let params = match super::request_object::resolve(&state, &client, params.clone()).await {
        Ok(p) => p,
        Err(refusal) => {
            let beside = params.get("redirect_uri").and_then(|u| {
                client
                    .redirect_uris
                    .iter()
                    .find(|r| r.as_str() == u)
                    .cloned()
            });
            return match beside {
                Some(uri) => error_redirect(&state, (&uri, &params), params.get("state"), refusal),
                None => client_error_page(&format!(
                    "La demande de connexion signée par l'application est invalide ({}).",
                    refusal.1
                )),
            };
        }
    };
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return client_error_page(
            "L'application n'a pas indiqué d'adresse de retour (paramètre redirect_uri).",
        );
    };
    let Some(redirect_uri) = client
        .redirect_uris
        .iter()
        .find(|u| u.as_str() == redirect_uri)
        .cloned()
    else {
        return client_error_page(
            "L'adresse de retour demandée n'est pas enregistrée pour cette application.",
        );
    };
    let client_state = params.get("state").map(str::to_owned);
    let validated = match validate(&client, &redirect_uri, &params) {
        Ok(v) => v,
        Err(refusal) => {
            return error_redirect(
                &state,
                (&redirect_uri, &params),
                client_state.as_deref(),
                refusal,
            );
        }
    };
    match decide(&state, jar, validated).await {
        Ok(Ok(response)) => response,
        Ok(Err(refusal)) => error_redirect(
            &state,
            (&redirect_uri, &params),
            client_state.as_deref(),
            refusal,
        ),
        Err(e) => {
            tracing::error!(error = %e, "authorization failed on a store error");
            error_redirect(
                &state,
                (&redirect_uri, &params),
                client_state.as_deref(),
                (
                    ErrorCode::TemporarilyUnavailable,
                    "the service is temporarily unavailable".into(),
                ),
            )
        }
    }
}

/// The parameters pushed under `request_uri` for this client, taken once.
async fn pushed(state: &AppState, client: &Service, uri: &str) -> StoreResult<Option<Params>> {
    if !uri.starts_with(super::par::REQUEST_URI_PREFIX) {
        return Ok(None);
    }
    let Some(pushed) = state
        .stores
        .pending_logins
        .take_pushed_request(crate::crypto::TokenHash::of(uri))
        .await?
    else {
        return Ok(None);
    };
    if pushed.client_id != client.client_id {
        return Ok(None);
    }
    Ok(Params::parse(pushed.parameters.as_bytes()).ok())
}

async fn decide(
    state: &AppState,
    jar: CookieJar,
    v: Validated,
) -> StoreResult<Result<Response, Refusal>> {
    let hint = match &v.id_token_hint {
        Some(token) => match super::id_token::parse_hint(state, token) {
            Some(h) => Some(h),
            None => {
                return Ok(refuse(
                    ErrorCode::InvalidRequest,
                    "id_token_hint is not an ID token issued by this provider",
                ));
            }
        },
        None => None,
    };
    let current = session::current(state, &jar).await?;
    let mut usable = None;
    if let Some(s) = current {
        // max_age=0 always asks for a new login (OIDC Core errata: equivalent to prompt=login).
        let now = state.clock.now();
        let fresh_enough = v
            .request
            .max_age
            .is_none_or(|max| max > 0 && now - s.auth_time <= max);
        // A service with a shorter idle limit than the session's asks for the password again.
        let client = state.clients.get(v.request.client_id.as_str()).await?;
        let idle = state.settings.idle_limit(client.as_deref());
        let active_enough = idle == 0 || now - s.last_active() < idle as i64;
        let same_person = hint.as_ref().is_none_or(|h| h.sub == s.account.as_str());
        // The account is read once for the whole request.
        let account = state
            .stores
            .accounts
            .get_account(&s.account)
            .await?
            .filter(|a| a.is_usable());
        if let Some(account) = account
            && !matches!(v.prompt, Prompt::Login)
            && fresh_enough
            && active_enough
            && same_person
        {
            usable = Some((s, account));
        }
    }
    let Some((session, account)) = usable else {
        if matches!(v.prompt, Prompt::None) {
            return Ok(refuse(ErrorCode::LoginRequired, "the person must log in"));
        }
        return Ok(Ok(park(state, jar, v, "/login").await?));
    };
    if matches!(v.prompt, Prompt::None)
        && !flow::habilitated(state, &account, &v.request.client_id).await?
    {
        return Ok(refuse(
            ErrorCode::AccessDenied,
            "the person holds no habilitation for this service",
        ));
    }
    let next = flow::next(state, &account, &session, &v.request).await?;
    let page = match next {
        Next::Code { response } => return Ok(Ok(web::deliver(&response))),
        Next::NotHabilitated { service } => return Ok(Ok(web::not_habilitated_page(&service))),
        _ if matches!(v.prompt, Prompt::None) => {
            return Ok(refuse(
                ErrorCode::InteractionRequired,
                "the person must choose a new password or give a second factor",
            ));
        }
        Next::ChangePassword => "/compte/mot-de-passe",
        Next::SecondFactor => "/login/otp",
        Next::Enrol => "/compte/double-authentification",
        Next::EnrolPasskey => "/compte/cles-d-acces",
    };
    Ok(Ok(park(state, jar, v, page).await?))
}

/// Stores the request as a pending login bound to this browser and sends the person to `page`
/// (the login page, or the forced password change), which finishes it.
async fn park(state: &AppState, jar: CookieJar, v: Validated, page: &str) -> StoreResult<Response> {
    let (jar, browser_id) = browser::ensure(state, jar);
    let id = random_token();
    let pending = PendingLogin {
        request: v.request,
        login_hint: v.login_hint,
        browser: browser::binding(&browser_id),
    };
    state
        .stores
        .pending_logins
        .put_pending_login(&id, &pending, state.settings.login_request_ttl)
        .await?;
    Ok((jar, Redirect::to(&format!("{page}?request={id}"))).into_response())
}
