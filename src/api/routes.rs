//! The `/api/v1` routes, one module per resource (each with its own `router()` and OpenAPI
//! paths, merged here), each handler annotated for the OpenAPI document.

mod annexe;
mod grants;
mod groups;
mod partners;
mod people;
mod requests;
mod reviews;

use super::views::*;
use super::{ApiActor, ApiError, ApiJson, Problem};
use crate::habilitations::manage::{self, Appointment, GrantRequest, PersonFields, StatusChange};
use crate::habilitations::{HabilitationError, annexe1, review};
use crate::state::AppState;
use crate::store::{Delegation, HabilitationMode, Holder, ReviewDecision};
use crate::types::{
    AccountId, ClientId, ConventionId, GroupId, HabilitationId, PartnerId, ReviewId, RoleCode,
};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use std::collections::HashMap;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

type ApiResult<T> = Result<T, ApiError>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Passerelle – API d'administration des habilitations",
        description = "Partners, conventions, people, groups, habilitations, quotas and modes. \
            Authenticate with a personal API token (`Authorization: Bearer psr_…`) created in \
            the console: calls act for that person, under the same rules as the console, and \
            every change is attributed to them. Errors are RFC 9457 problem details.",
        version = "1"
    ),
    paths(me),
    components(schemas(Problem)),
    modifiers(&BearerToken),
    tags(
        (name = "partenaires", description = "Partners, conventions, quotas, modes"),
        (name = "personnes", description = "People of a partner and their administrative roles"),
        (name = "habilitations", description = "Service roles granted to people and groups"),
        (name = "groupes", description = "Groups of people sharing habilitations"),
        (name = "revues", description = "The yearly reverse review and its signed report"),
        (name = "demandes", description = "Requests of partners in centralized mode, decided by the Caf"),
        (name = "annexe 1", description = "The partner's list of open and closed accesses")
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "personal_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Relying applications' access tokens from the client_credentials grant at /token.
        components.add_security_scheme(
            "client_credentials",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/me", get(me))
        .merge(partners::router())
        .merge(people::router())
        .merge(grants::router())
        .merge(groups::router())
        .merge(reviews::router())
        .merge(requests::router())
        .merge(annexe::router())
}

async fn openapi() -> Response {
    let mut doc = ApiDoc::openapi();
    doc.merge(partners::Doc::openapi());
    doc.merge(people::Doc::openapi());
    doc.merge(grants::Doc::openapi());
    doc.merge(groups::Doc::openapi());
    doc.merge(reviews::Doc::openapi());
    doc.merge(requests::Doc::openapi());
    doc.merge(annexe::Doc::openapi());
    doc.merge(super::traces::TracesDoc::openapi());
    (
        [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
        Json(doc),
    )
        .into_response()
}

fn parse<T>(
    what: &str,
    value: &str,
    parse: fn(&str) -> Result<T, crate::types::InvalidValue>,
) -> ApiResult<T> {
    parse(value).map_err(|e| ApiError::bad_request(format!("{what} : {e}")))
}

/// Unknown identifiers are answered like identifiers of another partner: not found.
fn id_or_not_found<T>(
    value: &str,
    parse: fn(&str) -> Result<T, crate::types::InvalidValue>,
    what: crate::habilitations::Record,
) -> ApiResult<T> {
    parse(value).map_err(|_| crate::habilitations::HabilitationError::NotFound(what).into())
}

fn account_id(value: &str) -> ApiResult<AccountId> {
    if value.is_empty() || value.len() > 64 {
        return Err(crate::habilitations::HabilitationError::NotFound(
            crate::habilitations::Record::Account,
        )
        .into());
    }
    Ok(AccountId::from_stored(value.to_owned()))
}

/// Start of the day (in Europe/Paris, where people are) of an ISO date; `next_day` for the end
/// of an inclusive range.
fn day_start(what: &str, value: &str, next_day: bool) -> ApiResult<i64> {
    let date = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(format!("{what} : date attendue au format AAAA-MM-JJ"))
    })?;
    Ok(if next_day {
        crate::clock::paris_end_of(date)
    } else {
        crate::clock::paris_start_of(date)
    })
}

/// One page of a list: the items as a JSON array and, when more follow, an RFC 8288 `Link`
/// header to the next page (`rel="next"`, the same query with `after` set) and `X-Next-Cursor`
/// with the cursor alone.
fn paged<T: serde::Serialize>(
    path: &str,
    query: &HashMap<String, String>,
    items: Vec<T>,
    next: Option<crate::store::directory::Cursor>,
) -> Response {
    let mut response = Json(items).into_response();
    if let Some(cursor) = next {
        let cursor = crate::habilitations::directory::encode_cursor(&cursor);
        let mut pairs: Vec<(&String, &String)> = query
            .iter()
            .filter(|(k, _)| k.as_str() != "after")
            .collect();
        pairs.sort();
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            serializer.append_pair(k, v);
        }
        serializer.append_pair("after", &cursor);
        let link = format!("<{path}?{}>; rel=\"next\"", serializer.finish());
        let headers = response.headers_mut();
        if let Ok(value) = axum::http::HeaderValue::from_str(&link) {
            headers.insert(axum::http::header::LINK, value);
        }
        if let Ok(value) = axum::http::HeaderValue::from_str(&cursor) {
            headers.insert("x-next-cursor", value);
        }
    }
    response
}

/// The person the token acts for.
#[utoipa::path(get, path = "/api/v1/me", tag = "personnes",
    responses((status = 200, body = MeView), (status = 401, body = Problem)),
    security(("personal_token" = [])))]
async fn me(ApiActor(actor): ApiActor) -> Json<MeView> {
    Json(MeView::from(&actor.account))
}
