//! The `/api/v1` routes, each annotated for the OpenAPI document.

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
    paths(
        me, list_partners, get_partner, partner_accounts, create_account, get_account,
        update_account, suspend_account, reactivate_account, close_account,
        force_password_change, appoint, set_delegations, partner_habilitations,
        grant, change_status, partner_groups, create_group, add_member, remove_member,
        close_group, set_quota, set_mode, partner_changes, start_review, partner_reviews,
        get_review, decide_review, complete_review, review_report, overdue_reviews,
        export_annexe1, import_annexe1, create_partner, create_convention, update_convention
    ),
    components(schemas(Problem)),
    modifiers(&BearerToken),
    tags(
        (name = "partenaires", description = "Partners, conventions, quotas, modes"),
        (name = "personnes", description = "People of a partner and their administrative roles"),
        (name = "habilitations", description = "Service roles granted to people and groups"),
        (name = "groupes", description = "Groups of people sharing habilitations"),
        (name = "revues", description = "The yearly reverse review and its signed report"),
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
        .route("/api/v1/partners", get(list_partners).post(create_partner))
        .route("/api/v1/partners/{id}/conventions", post(create_convention))
        .route("/api/v1/conventions/{id}", put(update_convention))
        .route("/api/v1/partners/{id}", get(get_partner))
        .route(
            "/api/v1/partners/{id}/accounts",
            get(partner_accounts).post(create_account),
        )
        .route(
            "/api/v1/partners/{id}/habilitations",
            get(partner_habilitations).post(grant),
        )
        .route(
            "/api/v1/partners/{id}/groups",
            get(partner_groups).post(create_group),
        )
        .route("/api/v1/partners/{id}/changes", get(partner_changes))
        .route(
            "/api/v1/accounts/{id}",
            get(get_account).patch(update_account),
        )
        .route("/api/v1/accounts/{id}/suspend", post(suspend_account))
        .route("/api/v1/accounts/{id}/reactivate", post(reactivate_account))
        .route("/api/v1/accounts/{id}/close", post(close_account))
        .route(
            "/api/v1/accounts/{id}/force-password-change",
            post(force_password_change),
        )
        .route("/api/v1/accounts/{id}/appointment", post(appoint))
        .route("/api/v1/accounts/{id}/delegations", put(set_delegations))
        .route("/api/v1/habilitations/{id}/status", post(change_status))
        .route("/api/v1/groups/{id}/members", post(add_member))
        .route(
            "/api/v1/groups/{id}/members/{account}",
            delete(remove_member),
        )
        .route("/api/v1/groups/{id}/close", post(close_group))
        .route("/api/v1/conventions/{id}/quotas", put(set_quota))
        .route("/api/v1/conventions/{id}/mode", put(set_mode))
        .route(
            "/api/v1/partners/{id}/reviews",
            get(partner_reviews).post(start_review),
        )
        .route("/api/v1/reviews/overdue", get(overdue_reviews))
        .route("/api/v1/reviews/{id}", get(get_review))
        .route(
            "/api/v1/reviews/{id}/decisions/{habilitation}",
            put(decide_review),
        )
        .route("/api/v1/reviews/{id}/complete", post(complete_review))
        .route("/api/v1/reviews/{id}/report", get(review_report))
        .route(
            "/api/v1/partners/{id}/annexe1",
            get(export_annexe1).post(import_annexe1),
        )
}

async fn openapi() -> Response {
    let mut doc = ApiDoc::openapi();
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
    what: &'static str,
) -> ApiResult<T> {
    parse(value).map_err(|_| crate::habilitations::HabilitationError::NotFound(what).into())
}

fn account_id(value: &str) -> ApiResult<AccountId> {
    if value.is_empty() || value.len() > 64 {
        return Err(crate::habilitations::HabilitationError::NotFound("compte").into());
    }
    Ok(AccountId::from_stored(value.to_owned()))
}

/// Start of the day (UTC) of an ISO date; `next_day` for the end of an inclusive range.
fn day_start(what: &str, value: &str, next_day: bool) -> ApiResult<i64> {
    let date = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(format!("{what} : date attendue au format AAAA-MM-JJ"))
    })?;
    let date = if next_day {
        date.succ_opt()
            .ok_or_else(|| ApiError::bad_request(format!("{what} : date hors limites")))?
    } else {
        date
    };
    Ok(date
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp())
}

/// The person the token acts for.
#[utoipa::path(get, path = "/api/v1/me", tag = "personnes",
    responses((status = 200, body = MeView), (status = 401, body = Problem)),
    security(("personal_token" = [])))]
async fn me(ApiActor(actor): ApiActor) -> Json<MeView> {
    Json(MeView::from(&actor.account))
}

/// The partners the caller may see: all (national operator), their Caf's, or their own.
#[utoipa::path(get, path = "/api/v1/partners", tag = "partenaires",
    responses((status = 200, body = [PartnerView]), (status = 401, body = Problem)),
    security(("personal_token" = [])))]
async fn list_partners(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Vec<PartnerView>>> {
    let partners = manage::visible_partners(&state, &actor).await?;
    Ok(Json(partners.iter().map(PartnerView::from).collect()))
}

/// A partner with its conventions and the use of its quotas.
#[utoipa::path(get, path = "/api/v1/partners/{id}", tag = "partenaires",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = PartnerDetail), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn get_partner(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<PartnerDetail>> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    let context = manage::partner(&state, &actor, &id).await?;
    let quotas = manage::quota_uses(&state, &context).await?;
    Ok(Json(PartnerDetail {
        partner: PartnerView::from(&context.partner),
        conventions: context
            .conventions
            .iter()
            .map(|c| ConventionView::of(c, context.today))
            .collect(),
        quotas: quotas.iter().map(QuotaView::from).collect(),
    }))
}

/// The people of a partner, closed accounts included.
#[utoipa::path(get, path = "/api/v1/partners/{id}/accounts", tag = "personnes",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = [AccountView]), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn partner_accounts(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<AccountView>>> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    manage::partner(&state, &actor, &id).await?;
    let accounts = state.stores.accounts.accounts_of_partner(&id).await?;
    Ok(Json(accounts.iter().map(AccountView::from).collect()))
}

/// Creates a person of the partner and mails their activation link.
#[utoipa::path(post, path = "/api/v1/partners/{id}/accounts", tag = "personnes",
    params(("id" = String, Path, description = "Partner id")), request_body = NewAccount,
    responses((status = 201, body = AccountView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn create_account(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewAccount>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    let fields = PersonFields::parse(
        &body.email,
        body.civility.as_deref(),
        &body.given_name,
        &body.family_name,
        body.function.as_deref(),
    )?;
    let services = body
        .services
        .iter()
        .map(|s| parse("services", s, ClientId::parse))
        .collect::<ApiResult<Vec<_>>>()?;
    let account = manage::create_person(&state, &actor, &id, fields, services).await?;
    Ok((StatusCode::CREATED, Json(AccountView::from(&account))))
}

/// A person, with the habilitations they hold and their groups.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "personnes",
    params(("id" = String, Path, description = "Account id")),
    responses((status = 200, body = AccountDetail), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn get_account(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountDetail>> {
    let id = account_id(&id)?;
    let (account, _) = manage::person(&state, &actor, &id).await?;
    let habilitations = state
        .stores
        .habilitations
        .habilitations_of_account(&id)
        .await?;
    let groups = state.stores.habilitations.groups_of_account(&id).await?;
    Ok(Json(AccountDetail {
        account: AccountView::from(&account),
        habilitations: habilitations.iter().map(HabilitationView::from).collect(),
        groups: groups.iter().map(|g| g.id.to_string()).collect(),
    }))
}

/// Corrects a person's profile (not their email, which is their identifier), as a JSON merge
/// patch (RFC 7396): only the fields given change.
#[utoipa::path(patch, path = "/api/v1/accounts/{id}", tag = "personnes",
    params(("id" = String, Path, description = "Account id")), request_body = AccountUpdate,
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn update_account(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AccountUpdate>,
) -> ApiResult<Json<AccountView>> {
    let id = account_id(&id)?;
    let (account, _) = manage::person(&state, &actor, &id).await?;
    let p = &account.profile;
    // Merge semantics: what the body leaves out keeps its current value.
    let merged = |patch: &Option<Option<String>>, current: Option<&str>| match patch {
        None => current.map(str::to_owned),
        Some(value) => value.clone(),
    };
    let required = |what: &str, patch: &Option<Option<String>>, current: &str| match patch {
        Some(None) => Err(HabilitationError::Invalid(format!(
            "{what} ne peut pas être effacé."
        ))),
        _ => Ok(merged(patch, Some(current)).unwrap_or_default()),
    };
    let fields = PersonFields::parse(
        p.email.as_str(),
        merged(&body.civility, p.civility.as_deref()).as_deref(),
        &required("Le prénom", &body.given_name, &p.given_name)?,
        &required("Le nom", &body.family_name, &p.family_name)?,
        merged(&body.function, p.function.as_deref()).as_deref(),
    )?;
    let account = manage::update_person(&state, &actor, &id, fields).await?;
    Ok(Json(AccountView::from(&account)))
}

/// Suspends an account as a precaution: its sessions and tokens end at once.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/suspend", tag = "personnes",
    params(("id" = String, Path, description = "Account id")), request_body = Reason,
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn suspend_account(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reason>,
) -> ApiResult<Json<AccountView>> {
    let id = account_id(&id)?;
    let account = manage::suspend_person(&state, &actor, &id, true, body.reason.as_deref()).await?;
    Ok(Json(AccountView::from(&account)))
}

/// Lifts a suspension.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/reactivate", tag = "personnes",
    params(("id" = String, Path, description = "Account id")), request_body = Reason,
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn reactivate_account(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reason>,
) -> ApiResult<Json<AccountView>> {
    let id = account_id(&id)?;
    let account =
        manage::suspend_person(&state, &actor, &id, false, body.reason.as_deref()).await?;
    Ok(Json(AccountView::from(&account)))
}

/// Closes a person's access on departure: every habilitation, group membership and session.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/close", tag = "personnes",
    params(("id" = String, Path, description = "Account id")), request_body = Reason,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn close_account(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reason>,
) -> ApiResult<StatusCode> {
    let id = account_id(&id)?;
    manage::close_person(&state, &actor, &id, body.reason.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Caf only: the person must choose a new password before any service gets a code again.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/force-password-change", tag = "personnes",
    params(("id" = String, Path, description = "Account id")), request_body = Reason,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn force_password_change(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reason>,
) -> ApiResult<StatusCode> {
    let id = account_id(&id)?;
    manage::force_password_change(&state, &actor, &id, body.reason.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Caf only: appoints or removes the partner's principal administrator or substitute.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/appointment", tag = "personnes",
    params(("id" = String, Path, description = "Account id")), request_body = AppointmentRequest,
    responses((status = 200, body = AccountView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn appoint(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AppointmentRequest>,
) -> ApiResult<Json<AccountView>> {
    let id = account_id(&id)?;
    let appointment = Appointment::parse(&body.role)
        .ok_or_else(|| ApiError::bad_request("role : « principal » ou « substitute »"))?;
    let account = manage::appoint(
        &state,
        &actor,
        &id,
        appointment,
        body.appointed,
        body.reason.as_deref(),
    )
    .await?;
    Ok(Json(AccountView::from(&account)))
}

/// Partner administrators only: names a delegated manager with what they may manage.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/delegations", tag = "personnes",
    params(("id" = String, Path, description = "Account id")), request_body = DelegationsRequest,
    responses((status = 200, body = AccountView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn set_delegations(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DelegationsRequest>,
) -> ApiResult<Json<AccountView>> {
    let id = account_id(&id)?;
    let delegations = body
        .delegations
        .iter()
        .map(|d| {
            Ok(Delegation {
                client_id: parse("service", &d.service, ClientId::parse)?,
                role: d
                    .role
                    .as_deref()
                    .map(|r| parse("role", r, RoleCode::parse))
                    .transpose()?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let account =
        manage::name_delegated_manager(&state, &actor, &id, delegations, body.reason.as_deref())
            .await?;
    Ok(Json(AccountView::from(&account)))
}

/// Every habilitation of the partner, any status.
#[utoipa::path(get, path = "/api/v1/partners/{id}/habilitations", tag = "habilitations",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = [HabilitationView]), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn partner_habilitations(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<HabilitationView>>> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    manage::partner(&state, &actor, &id).await?;
    let all = state
        .stores
        .habilitations
        .habilitations_of_partner(&id)
        .await?;
    Ok(Json(all.iter().map(HabilitationView::from).collect()))
}

/// Grants a service role to a person or a group of the partner, within the quota.
#[utoipa::path(post, path = "/api/v1/partners/{id}/habilitations", tag = "habilitations",
    params(("id" = String, Path, description = "Partner id")), request_body = NewHabilitation,
    responses((status = 201, body = HabilitationView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "Quota reached or already held"),
        (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn grant(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewHabilitation>,
) -> ApiResult<(StatusCode, Json<HabilitationView>)> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    let holder = match (&body.account, &body.group) {
        (Some(a), None) => Holder::Account(account_id(a)?),
        (None, Some(g)) => Holder::Group(id_or_not_found(g, GroupId::parse, "groupe")?),
        _ => {
            return Err(ApiError::bad_request(
                "Indiquez soit « account », soit « group ».",
            ));
        }
    };
    let request = GrantRequest {
        holder,
        client_id: parse("service", &body.service, ClientId::parse)?,
        role: parse("role", &body.role, RoleCode::parse)?,
        scope: body.scope,
        valid_from: body
            .valid_from
            .as_deref()
            .map(|d| day_start("valid_from", d, false))
            .transpose()?,
        valid_until: body
            .valid_until
            .as_deref()
            .map(|d| day_start("valid_until", d, true))
            .transpose()?,
    };
    let habilitation = manage::grant(&state, &actor, &id, request, body.reason.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(HabilitationView::from(&habilitation)),
    ))
}

/// Suspends, reactivates or closes (withdraws) a habilitation.
#[utoipa::path(post, path = "/api/v1/habilitations/{id}/status", tag = "habilitations",
    params(("id" = String, Path, description = "Habilitation id")), request_body = StatusRequest,
    responses((status = 200, body = HabilitationView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn change_status(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StatusRequest>,
) -> ApiResult<Json<HabilitationView>> {
    let id = id_or_not_found(&id, HabilitationId::parse, "habilitation")?;
    let change = StatusChange::parse(&body.change).ok_or_else(|| {
        ApiError::bad_request("change : « suspend », « reactivate » ou « close »")
    })?;
    let habilitation =
        manage::change_status(&state, &actor, &id, change, body.reason.as_deref()).await?;
    Ok(Json(HabilitationView::from(&habilitation)))
}

/// The partner's groups and their members.
#[utoipa::path(get, path = "/api/v1/partners/{id}/groups", tag = "groupes",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = [GroupView]), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn partner_groups(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<GroupView>>> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    manage::partner(&state, &actor, &id).await?;
    let mut views = Vec::new();
    for group in state.stores.habilitations.groups_of_partner(&id).await? {
        let members = state.stores.habilitations.group_members(&group.id).await?;
        views.push(GroupView::of(
            &group,
            members.iter().map(|m| m.to_string()).collect(),
        ));
    }
    Ok(Json(views))
}

/// Creates a group of the partner.
#[utoipa::path(post, path = "/api/v1/partners/{id}/groups", tag = "groupes",
    params(("id" = String, Path, description = "Partner id")), request_body = NewGroup,
    responses((status = 201, body = GroupView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn create_group(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewGroup>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    let group = manage::create_group(&state, &actor, &id, &body.name).await?;
    Ok((StatusCode::CREATED, Json(GroupView::of(&group, Vec::new()))))
}

/// Adds a person to a group (counted in the quotas of the group's habilitations).
#[utoipa::path(post, path = "/api/v1/groups/{id}/members", tag = "groupes",
    params(("id" = String, Path, description = "Group id")), request_body = MemberRequest,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn add_member(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MemberRequest>,
) -> ApiResult<StatusCode> {
    let id = id_or_not_found(&id, GroupId::parse, "groupe")?;
    manage::add_member(&state, &actor, &id, &account_id(&body.account)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a person from a group; their sessions end.
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{account}", tag = "groupes",
    params(("id" = String, Path, description = "Group id"), ("account" = String, Path, description = "Account id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn remove_member(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((id, account)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = id_or_not_found(&id, GroupId::parse, "groupe")?;
    manage::remove_member(&state, &actor, &id, &account_id(&account)?, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Closes a group and every habilitation it holds.
#[utoipa::path(post, path = "/api/v1/groups/{id}/close", tag = "groupes",
    params(("id" = String, Path, description = "Group id")), request_body = Reason,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn close_group(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reason>,
) -> ApiResult<StatusCode> {
    let id = id_or_not_found(&id, GroupId::parse, "groupe")?;
    manage::close_group(&state, &actor, &id, body.reason.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Caf only: sets or removes the quota of a service role under a convention.
#[utoipa::path(put, path = "/api/v1/conventions/{id}/quotas", tag = "partenaires",
    params(("id" = String, Path, description = "Convention id")), request_body = QuotaRequest,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn set_quota(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<QuotaRequest>,
) -> ApiResult<StatusCode> {
    let id = id_or_not_found(&id, ConventionId::parse, "convention")?;
    manage::set_quota(
        &state,
        &actor,
        &id,
        &parse("service", &body.service, ClientId::parse)?,
        &parse("role", &body.role, RoleCode::parse)?,
        body.maximum,
        body.reason.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Caf only: withdraws the delegation (`centralise`) or restores it (`delegue`).
#[utoipa::path(put, path = "/api/v1/conventions/{id}/mode", tag = "partenaires",
    params(("id" = String, Path, description = "Convention id")), request_body = ModeRequest,
    responses((status = 200, body = ConventionView), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn set_mode(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ModeRequest>,
) -> ApiResult<Json<ConventionView>> {
    let id = id_or_not_found(&id, ConventionId::parse, "convention")?;
    let mode = HabilitationMode::parse(&body.mode)
        .ok_or_else(|| ApiError::bad_request("mode : « delegue » ou « centralise »"))?;
    let convention = manage::switch_mode(&state, &actor, &id, mode, body.reason.as_deref()).await?;
    Ok(Json(ConventionView::of(
        &convention,
        crate::habilitations::today(),
    )))
}

/// The latest changes to the partner's data: who, when, what, why.
#[utoipa::path(get, path = "/api/v1/partners/{id}/changes", tag = "partenaires",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = [ChangeView]), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn partner_changes(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ChangeView>>> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    manage::partner(&state, &actor, &id).await?;
    let changes = state
        .stores
        .habilitations
        .changes_of_partner(&id, 200)
        .await?;
    Ok(Json(changes.iter().map(ChangeView::from).collect()))
}

async fn review_view(state: &AppState, review: &crate::store::Review) -> ApiResult<ReviewView> {
    let items = if review.completed_at.is_none() {
        review::items(state, review).await?
    } else {
        Vec::new()
    };
    Ok(ReviewView::of(review, items))
}

/// Principal administrator or substitute: starts the yearly review (or returns the open one).
#[utoipa::path(post, path = "/api/v1/partners/{id}/reviews", tag = "revues",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = ReviewView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn start_review(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<ReviewView>> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    let review = review::start(&state, &actor, &id).await?;
    Ok(Json(review_view(&state, &review).await?))
}

/// The partner's reviews, newest first.
#[utoipa::path(get, path = "/api/v1/partners/{id}/reviews", tag = "revues",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = [ReviewView]), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn partner_reviews(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ReviewView>>> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    let reviews = review::of_partner(&state, &actor, &id).await?;
    Ok(Json(
        reviews
            .iter()
            .map(|r| ReviewView::of(r, Vec::new()))
            .collect(),
    ))
}

/// A review, with the habilitations still to decide on while it is open.
#[utoipa::path(get, path = "/api/v1/reviews/{id}", tag = "revues",
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, body = ReviewView), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn get_review(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<ReviewView>> {
    let id = id_or_not_found(&id, ReviewId::parse, "revue")?;
    let (review, _) = review::get(&state, &actor, &id).await?;
    Ok(Json(review_view(&state, &review).await?))
}

/// Confirms or withdraws one habilitation in an open review.
#[utoipa::path(put, path = "/api/v1/reviews/{id}/decisions/{habilitation}", tag = "revues",
    params(("id" = String, Path, description = "Review id"),
        ("habilitation" = String, Path, description = "Habilitation id")),
    request_body = DecisionRequest,
    responses((status = 200, body = ReviewView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn decide_review(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((id, habilitation)): Path<(String, String)>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> ApiResult<Json<ReviewView>> {
    let id = id_or_not_found(&id, ReviewId::parse, "revue")?;
    let habilitation = id_or_not_found(&habilitation, HabilitationId::parse, "habilitation")?;
    let decision = match body.decision.as_str() {
        "confirm" => ReviewDecision::Confirm,
        "withdraw" => ReviewDecision::Withdraw,
        _ => {
            return Err(ApiError::bad_request(
                "decision : « confirm » ou « withdraw »",
            ));
        }
    };
    let review = review::decide(&state, &actor, &id, &habilitation, decision).await?;
    Ok(Json(review_view(&state, &review).await?))
}

/// Completes the review: withdrawn habilitations are closed and the report is signed.
#[utoipa::path(post, path = "/api/v1/reviews/{id}/complete", tag = "revues",
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, body = ReviewView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn complete_review(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<ReviewView>> {
    let id = id_or_not_found(&id, ReviewId::parse, "revue")?;
    let review = review::complete(&state, &actor, &id).await?;
    Ok(Json(review_view(&state, &review).await?))
}

/// The signed report of a completed review (`application/jose`), verifiable with the JWKS.
#[utoipa::path(get, path = "/api/v1/reviews/{id}/report", tag = "revues",
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, content_type = "application/jose", body = String),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn review_report(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = id_or_not_found(&id, ReviewId::parse, "revue")?;
    let (review, _) = review::get(&state, &actor, &id).await?;
    let report = review.report.ok_or_else(|| {
        ApiError::from(crate::habilitations::HabilitationError::Conflict(
            "Cette revue n'est pas terminée : son rapport n'existe pas encore.".into(),
        ))
    })?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/jose"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"revue-inverse.jws\"",
            ),
        ],
        report,
    )
        .into_response())
}

/// The partners in the caller's reach whose yearly review is overdue.
#[utoipa::path(get, path = "/api/v1/reviews/overdue", tag = "revues",
    responses((status = 200, body = [OverdueView]), (status = 401, body = Problem)),
    security(("personal_token" = [])))]
async fn overdue_reviews(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Vec<OverdueView>>> {
    let late = review::overdue(&state, &actor).await?;
    Ok(Json(
        late.iter()
            .map(|o| OverdueView {
                partner: PartnerView::from(&o.partner),
                last_completed_at: o.last_completed_at.map(rfc3339),
                due_since: rfc3339(o.due_since),
            })
            .collect(),
    ))
}

fn query_value<'a>(query: &'a HashMap<String, String>, name: &str) -> ApiResult<&'a str> {
    query
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("paramètre « {name} » manquant")))
}

/// The current annexe 1 of a partner for a service: open accesses and accesses closed less
/// than two years ago; `format=csv` for a spreadsheet.
#[utoipa::path(get, path = "/api/v1/partners/{id}/annexe1", tag = "annexe 1",
    params(("id" = String, Path, description = "Partner id"),
        ("service" = String, Query, description = "Client id of the service"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`")),
    responses((status = 200, description = "The annex, as JSON or CSV"), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn export_annexe1(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    let service = parse("service", query_value(&query, "service")?, ClientId::parse)?;
    let export = annexe1::export(&state, &actor, &id, &service).await?;
    Ok(match query.get("format").map(String::as_str) {
        Some("csv") => (
            [
                (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    "attachment; filename=\"annexe1.csv\"",
                ),
            ],
            annexe1::to_csv(&export),
        )
            .into_response(),
        None | Some("json") => Json(export).into_response(),
        Some(_) => return Err(ApiError::bad_request("format : « json » ou « csv »")),
    })
}

/// Imports an annexe 1 (CSV or the annex's text, as the request body) for one service role:
/// a dry run by default, which returns the plan; `apply=true` carries it out.
#[utoipa::path(post, path = "/api/v1/partners/{id}/annexe1", tag = "annexe 1",
    params(("id" = String, Path, description = "Partner id"),
        ("service" = String, Query, description = "Client id of the service"),
        ("role" = String, Query, description = "Role granted to the people of list 1"),
        ("scope" = Option<String>, Query, description = "Comma-separated scope values"),
        ("apply" = Option<bool>, Query, description = "`true` to apply; otherwise a dry run")),
    request_body(content = String, content_type = "text/plain"),
    responses((status = 200, description = "The plan, and what was done when applied"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn import_annexe1(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> ApiResult<Json<serde_json::Value>> {
    let id = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    let target = annexe1::ImportTarget {
        partner: id,
        client_id: parse("service", query_value(&query, "service")?, ClientId::parse)?,
        role: parse("role", query_value(&query, "role")?, RoleCode::parse)?,
        scope: query
            .get("scope")
            .map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    };
    if query.get("apply").map(String::as_str) == Some("true") {
        let (plan, applied) = annexe1::apply(&state, &actor, &target, &body).await?;
        Ok(Json(
            serde_json::json!({ "plan": plan, "applied": applied }),
        ))
    } else {
        let plan = annexe1::plan(&state, &actor, &target, &body).await?;
        Ok(Json(serde_json::json!({ "plan": plan, "applied": null })))
    }
}

/// Caf side: registers a partner of the caller's Caf.
#[utoipa::path(post, path = "/api/v1/partners", tag = "partenaires", request_body = NewPartner,
    responses((status = 201, body = PartnerView), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn create_partner(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<NewPartner>,
) -> ApiResult<(StatusCode, Json<PartnerView>)> {
    let partner = crate::store::Partner {
        id: parse("id", &body.id, PartnerId::parse)?,
        caf: parse("caf", &body.caf, crate::types::CafCode::parse)?,
        name: body.name.trim().to_owned(),
        siret: body
            .siret
            .as_deref()
            .map(|s| parse("siret", s, crate::types::Siret::parse))
            .transpose()?,
    };
    let partner = manage::create_partner(&state, &actor, partner).await?;
    Ok((StatusCode::CREATED, Json(PartnerView::from(&partner))))
}

fn convention_from(
    id: ConventionId,
    partner: &crate::store::Partner,
    body: ConventionRequest,
) -> ApiResult<crate::store::Convention> {
    use crate::store::{Contact, ContactRole, ContactSide, ConventionKind};
    let date = |what: &str, v: &str| {
        chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
            ApiError::bad_request(format!("{what} : date attendue au format AAAA-MM-JJ"))
        })
    };
    let contacts = body
        .contacts
        .into_iter()
        .map(|c| {
            Ok(Contact {
                side: match c.side.as_str() {
                    "partner" => ContactSide::Partner,
                    "caf" => ContactSide::Caf,
                    _ => return Err(ApiError::bad_request("side : « partner » ou « caf »")),
                },
                role: match c.role.as_str() {
                    "habilitation_officer" => ContactRole::HabilitationOfficer,
                    "security_officer" => ContactRole::SecurityOfficer,
                    "technical_referent" => ContactRole::TechnicalReferent,
                    _ => return Err(ApiError::bad_request(
                        "role : « habilitation_officer », « security_officer » ou « technical_referent »",
                    )),
                },
                name: c.name,
                email: c
                    .email
                    .as_deref()
                    .map(|e| parse("email", e, crate::types::Email::parse))
                    .transpose()?,
                phone: c.phone,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(crate::store::Convention {
        id,
        number: body.number,
        kind: ConventionKind::parse(&body.kind).ok_or_else(|| {
            ApiError::bad_request(
                "kind : « cooperation », « monenfant » ou « mon_compte_partenaire »",
            )
        })?,
        caf: partner.caf.clone(),
        partner: partner.id.clone(),
        services: body
            .services
            .iter()
            .map(|s| parse("services", s, ClientId::parse))
            .collect::<ApiResult<Vec<_>>>()?,
        starts_on: date("starts_on", &body.starts_on)?,
        terminated_on: body
            .terminated_on
            .as_deref()
            .map(|d| date("terminated_on", d))
            .transpose()?,
        mode: match body.mode.as_deref() {
            None => HabilitationMode::Delegated,
            Some(m) => HabilitationMode::parse(m)
                .ok_or_else(|| ApiError::bad_request("mode : « delegue » ou « centralise »"))?,
        },
        contacts,
    })
}

/// Caf side: records a new convention of the partner.
#[utoipa::path(post, path = "/api/v1/partners/{id}/conventions", tag = "partenaires",
    params(("id" = String, Path, description = "Partner id")), request_body = ConventionRequest,
    responses((status = 201, body = ConventionView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn create_convention(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConventionRequest>,
) -> ApiResult<(StatusCode, Json<ConventionView>)> {
    let partner = id_or_not_found(&id, PartnerId::parse, "partenaire")?;
    let context = manage::partner(&state, &actor, &partner).await?;
    let convention = convention_from(ConventionId::generate(), &context.partner, body)?;
    let saved = manage::save_convention(&state, &actor, convention).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConventionView::of(&saved, crate::habilitations::today())),
    ))
}

/// Caf side: corrects a convention or records its termination (`terminated_on`).
#[utoipa::path(put, path = "/api/v1/conventions/{id}", tag = "partenaires",
    params(("id" = String, Path, description = "Convention id")), request_body = ConventionRequest,
    responses((status = 200, body = ConventionView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn update_convention(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConventionRequest>,
) -> ApiResult<Json<ConventionView>> {
    let id = id_or_not_found(&id, ConventionId::parse, "convention")?;
    let (_, context) = manage::convention(&state, &actor, &id).await?;
    let convention = convention_from(id, &context.partner, body)?;
    let saved = manage::save_convention(&state, &actor, convention).await?;
    Ok(Json(ConventionView::of(
        &saved,
        crate::habilitations::today(),
    )))
}
