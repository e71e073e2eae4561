//! People of a partner and their administrative roles.

use super::*;
use crate::habilitations::Record;
use crate::habilitations::directory::ListParams;

#[derive(OpenApi)]
#[openapi(paths(
    list_accounts,
    partner_accounts,
    create_account,
    get_account,
    update_account,
    suspend_account,
    reactivate_account,
    close_account,
    force_password_change,
    appoint,
    set_delegations
))]
pub(super) struct Doc;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/accounts", get(list_accounts))
        .route(
            "/api/v1/partners/{id}/accounts",
            get(partner_accounts).post(create_account),
        )
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
}

/// The people of every partner the caller may see, found by `q` (name, email, function),
/// filtered by `partner` and `state`, sorted by `name`, `email`, `partner` or `created`, a page
/// at a time (`Link: rel="next"` and `X-Next-Cursor` when more follow).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "personnes",
    params(ListParams),
    responses((status = 200, body = [AccountView],
            headers(("link" = String, description = "RFC 8288 link to the next page, when there is one"),
                ("x-next-cursor" = String, description = "The cursor to pass as `after`"))),
        (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn list_accounts(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let params = ListParams::from_query(&query)?;
    let page = crate::habilitations::directory::people(&state, &actor, &params).await?;
    let items = page
        .items
        .iter()
        .map(|hit| AccountView::from(&hit.account))
        .collect();
    Ok(paged("/api/v1/accounts", &query, items, page.next))
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
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
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
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    let mut fields = PersonFields::parse(
        &body.email,
        body.civility.as_deref(),
        &body.given_name,
        &body.family_name,
        body.function.as_deref(),
    )?;
    fields.named_person = body.named_person;
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
