//! The yearly reverse review ("revue inverse"): the partner's principal administrator (or the
//! substitute) confirms or withdraws every open habilitation, and the result is a report
//! signed by Passerelle's key and timestamped, which the Caf downloads as proof.

use super::access::{self, Action};
use super::manage::{self, Author, StatusChange, record};
use super::{Actor, HabResult, HabilitationError, PartnerContext};
use crate::habilitations::Record;
use crate::state::AppState;
use crate::store::{
    Habilitation, HabilitationStatus, Holder, Partner, Review, ReviewDecision, SigningAlg,
};
use crate::types::{HabilitationId, PartnerId, ReviewId};
use serde::Serialize;
use serde_json::json;

/// A review is due once a year.
pub const REVIEW_PERIOD_SECONDS: i64 = 365 * 86_400;
/// The `typ` of a signed report.
pub const REPORT_TYPE: &str = "revue-inverse+jwt";

/// The habilitations a review covers: every open one of the partner.
async fn open_habilitations(state: &AppState, partner: &PartnerId) -> HabResult<Vec<Habilitation>> {
    Ok(state
        .stores
        .habilitations
        .habilitations_of_partner(partner)
        .await?
        .into_iter()
        .filter(|h| h.status != HabilitationStatus::Closed)
        .collect())
}

/// The review in progress for the partner, or a new one.
pub async fn start(state: &AppState, actor: &Actor, partner: &PartnerId) -> HabResult<Review> {
    let context = PartnerContext::load(state, partner).await?;
    access::check(actor, &context, Action::PerformReview)?;
    let reviews = state
        .stores
        .habilitations
        .reviews_of_partner(partner)
        .await?;
    if let Some(open) = reviews.into_iter().find(|r| r.completed_at.is_none()) {
        return Ok(open);
    }
    let review = Review {
        id: ReviewId::generate(),
        partner: partner.clone(),
        started_at: state.clock.now(),
        started_by: actor.id().clone(),
        decisions: Default::default(),
        completed_at: None,
        completed_by: None,
        report: None,
    };
    state.stores.habilitations.insert_review(&review).await?;
    record(
        state,
        Author::Person(actor),
        Some(partner),
        "review.start",
        format!("review:{}", review.id),
        None,
        json!({}),
    )
    .await?;
    Ok(review)
}

/// A review the actor may see, with its partner.
pub async fn get(
    state: &AppState,
    actor: &Actor,
    id: &ReviewId,
) -> HabResult<(Review, PartnerContext)> {
    let review = state.stores.habilitations.get_review(id).await?;
    super::in_reach(state, actor, Record::Review, review, |r| {
        Some(r.partner.clone())
    })
    .await
}

/// Records the decision on one habilitation of an open review.
pub async fn decide(
    state: &AppState,
    actor: &Actor,
    id: &ReviewId,
    habilitation: &HabilitationId,
    decision: ReviewDecision,
) -> HabResult<Review> {
    let (mut review, context) = get(state, actor, id).await?;
    access::check(actor, &context, Action::PerformReview)?;
    if review.completed_at.is_some() {
        return Err(HabilitationError::Conflict(
            "Cette revue est terminée.".into(),
        ));
    }
    if !open_habilitations(state, &review.partner)
        .await?
        .iter()
        .any(|h| &h.id == habilitation)
    {
        return Err(HabilitationError::NotFound(Record::Habilitation));
    }
    review.decisions.insert(habilitation.clone(), decision);
    state.stores.habilitations.save_review(&review).await?;
    Ok(review)
}

/// One line of the signed report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportItem {
    pub habilitation: String,
    pub holder: String,
    pub holder_kind: &'static str,
    pub service: String,
    pub role: String,
    pub scope: Vec<String>,
    pub decision: ReviewDecision,
    /// A group's members when the review ended ("Given Family <email>").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

/// Completes the review: every open habilitation must have a decision; withdrawn ones are
/// closed (and their holders' sessions end), confirmed ones marked reviewed; the report is
/// signed and stored.
pub async fn complete(state: &AppState, actor: &Actor, id: &ReviewId) -> HabResult<Review> {
    let (review, context, counts) = finish(state, actor, id).await?;
    send_to_caf(state, actor, &context, &review, counts).await?;
    Ok(review)
}

/// Completes a review as provisioning writes it (a demo's past): the same checks and report,
/// and nobody is mailed.
pub async fn complete_provisioned(
    state: &AppState,
    actor: &Actor,
    id: &ReviewId,
) -> HabResult<Review> {
    Ok(finish(state, actor, id).await?.0)
}

/// Confirmed and withdrawn habilitations of a completed review.
type Counts = (usize, usize);

async fn finish(
    state: &AppState,
    actor: &Actor,
    id: &ReviewId,
) -> HabResult<(Review, PartnerContext, Counts)> {
    let (mut review, context) = get(state, actor, id).await?;
    access::check(actor, &context, Action::PerformReview)?;
    if review.completed_at.is_some() {
        return Err(HabilitationError::Conflict(
            "Cette revue est terminée.".into(),
        ));
    }
    let open = open_habilitations(state, &review.partner).await?;
    let missing = open
        .iter()
        .filter(|h| !review.decisions.contains_key(&h.id))
        .count();
    if missing > 0 {
        return Err(HabilitationError::Invalid(format!(
            "Il reste {missing} habilitation(s) à confirmer ou retirer avant de terminer la revue."
        )));
    }
    let at = state.clock.now();
    let mut items = Vec::new();
    let mut confirmed = Vec::new();
    for h in &open {
        let decision = review.decisions[&h.id];
        items.push(report_item(state, h, decision).await?);
        match decision {
            ReviewDecision::Confirm => confirmed.push(h.id.clone()),
            ReviewDecision::Withdraw => {
                manage::change_status_as(
                    state,
                    Author::Person(actor),
                    h.clone(),
                    StatusChange::Close,
                    "Retirée lors de la revue annuelle des habilitations",
                )
                .await?;
            }
        }
    }
    state
        .stores
        .habilitations
        .mark_reviewed(&confirmed, at)
        .await?;
    review.completed_at = Some(at);
    review.completed_by = Some(actor.id().clone());
    review.report = Some(sign_report(
        state,
        &context.partner,
        &review,
        actor,
        &items,
    )?);
    // Decisions on habilitations closed meanwhile stay in the record but not in the report.
    state.stores.habilitations.save_review(&review).await?;
    record(
        state,
        Author::Person(actor),
        Some(&review.partner),
        "review.complete",
        format!("review:{}", review.id),
        None,
        json!({
            "confirmed": confirmed.len(),
            "withdrawn": items.len() - confirmed.len(),
        }),
    )
    .await?;
    let counts = (confirmed.len(), items.len() - confirmed.len());
    Ok((review, context, counts))
}

/// The review's result goes to the Caf (MCP agreement): its habilitation officers are mailed
/// the link to the report.
async fn send_to_caf(
    state: &AppState,
    actor: &Actor,
    context: &PartnerContext,
    review: &Review,
    (confirmed, withdrawn): Counts,
) -> HabResult<()> {
    let link = state
        .settings
        .endpoint(&format!("/console/revues/{}/rapport", review.id));
    let by = format!(
        "{} {} ({})",
        actor.account.profile.given_name,
        actor.account.profile.family_name,
        actor.account.profile.email
    );
    for officer in crate::habilitations::notify::caf_officers(state, &context.partner).await? {
        let mail = crate::mail::templates::review_completed(
            officer.profile.email.as_str(),
            &officer.profile.given_name,
            &context.partner.name,
            &by,
            confirmed,
            withdrawn,
            &link,
        );
        if let Err(e) = state.mailer.send(mail).await {
            tracing::error!(error = %e, "the Caf was not sent a completed review");
        }
    }
    Ok(())
}

async fn report_item(
    state: &AppState,
    h: &Habilitation,
    decision: ReviewDecision,
) -> HabResult<ReportItem> {
    let mut members = Vec::new();
    let (holder, holder_kind) = match &h.holder {
        Holder::Account(a) => match state.stores.accounts.get_account(a).await? {
            Some(a) => (
                format!(
                    "{} {} <{}>",
                    a.profile.given_name, a.profile.family_name, a.profile.email
                ),
                "account",
            ),
            None => (a.to_string(), "account"),
        },
        Holder::Group(g) => match state.stores.habilitations.get_group(g).await? {
            Some(group) => {
                for id in state.stores.habilitations.group_members(&group.id).await? {
                    if let Some(a) = state.stores.accounts.get_account(&id).await? {
                        members.push(format!(
                            "{} {} <{}>",
                            a.profile.given_name, a.profile.family_name, a.profile.email
                        ));
                    }
                }
                members.sort();
                (group.name, "group")
            }
            None => (g.to_string(), "group"),
        },
    };
    Ok(ReportItem {
        habilitation: h.id.to_string(),
        holder,
        holder_kind,
        service: h.client_id.to_string(),
        role: h.role.to_string(),
        scope: h.scope.clone(),
        decision,
        members,
    })
}

fn sign_report(
    state: &AppState,
    partner: &Partner,
    review: &Review,
    actor: &Actor,
    items: &[ReportItem],
) -> HabResult<String> {
    let payload = json!({
        "iss": state.settings.issuer,
        "iat": review.completed_at,
        "type": "revue-inverse-des-habilitations",
        "review": review.id,
        "partner": { "id": partner.id, "name": partner.name, "siret": partner.siret },
        "caf": partner.caf,
        "started_at": review.started_at,
        "completed_at": review.completed_at,
        "completed_by": {
            "id": actor.id(),
            "name": format!("{} {}", actor.account.profile.given_name, actor.account.profile.family_name),
            "email": actor.account.profile.email,
        },
        "items": items,
    });
    let key = state
        .keys
        .active(SigningAlg::RS256)
        .ok_or_else(|| HabilitationError::Invalid("Aucune clé de signature active.".into()))?;
    key.sign_compact(Some(REPORT_TYPE), &payload).map_err(|e| {
        HabilitationError::Store(crate::store::StoreError::Backend(anyhow::anyhow!(
            "cannot sign the review report: {e:?}"
        )))
    })
}

/// The reviews of a partner, newest first.
pub async fn of_partner(
    state: &AppState,
    actor: &Actor,
    partner: &PartnerId,
) -> HabResult<Vec<Review>> {
    manage::partner(state, actor, partner).await?;
    Ok(state
        .stores
        .habilitations
        .reviews_of_partner(partner)
        .await?)
}

/// A partner whose yearly review is overdue, as the Caf sees it.
#[derive(Debug, Clone)]
pub struct Overdue {
    pub partner: Partner,
    /// When the last review was completed, if ever.
    pub last_completed_at: Option<i64>,
    /// Since when a review is due.
    pub due_since: i64,
}

/// The partners in the actor's reach whose last completed review is more than a year old (or
/// who never had one a year after their first convention started).
pub async fn overdue(state: &AppState, actor: &Actor) -> HabResult<Vec<Overdue>> {
    let now = state.clock.now();
    let mut late = Vec::new();
    for partner in manage::visible_partners(state, actor).await? {
        let context = PartnerContext::load(state, &partner.id).await?;
        let Some(first_start) = context.in_force().map(|c| c.starts_on).min() else {
            continue;
        };
        let last = state
            .stores
            .habilitations
            .reviews_of_partner(&partner.id)
            .await?
            .into_iter()
            .filter_map(|r| r.completed_at)
            .max();
        let due_since = match last {
            Some(t) => t + REVIEW_PERIOD_SECONDS,
            None => {
                first_start
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight exists")
                    .and_utc()
                    .timestamp()
                    + REVIEW_PERIOD_SECONDS
            }
        };
        if due_since <= now {
            late.push(Overdue {
                partner,
                last_completed_at: last,
                due_since,
            });
        }
    }
    Ok(late)
}

/// The items of a review as its report will list them: every open habilitation, with the
/// decision taken so far.
pub async fn items(
    state: &AppState,
    review: &Review,
) -> HabResult<Vec<(Habilitation, Option<ReviewDecision>)>> {
    Ok(open_habilitations(state, &review.partner)
        .await?
        .into_iter()
        .map(|h| {
            let decision = review.decisions.get(&h.id).copied();
            (h, decision)
        })
        .collect())
}

/// A signed review report as read back: what it says, and the key that signed it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SignedReport {
    pub review: String,
    pub partner: ReportPartner,
    pub caf: String,
    pub started_at: i64,
    pub completed_at: i64,
    pub completed_by: ReportPerson,
    pub items: Vec<ReadItem>,
    /// The key id of the signature (from the JWS header).
    #[serde(skip)]
    pub kid: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReportPartner {
    pub id: String,
    pub name: String,
    pub siret: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReportPerson {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReadItem {
    pub holder: String,
    pub holder_kind: String,
    pub service: String,
    pub role: String,
    #[serde(default)]
    pub scope: Vec<String>,
    pub decision: ReviewDecision,
    #[serde(default)]
    pub members: Vec<String>,
}

/// Checks a review report's signature against the keys Passerelle publishes (its JWKS) and
/// reads it; `Err` says, in French, why it cannot be trusted.
pub fn verify_report(state: &AppState, jws: &str) -> Result<SignedReport, &'static str> {
    let jws = jws.trim();
    let header = jws
        .split('.')
        .next()
        .and_then(crate::crypto::b64url_decode)
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .ok_or("Ce texte n'est pas un rapport signé (JWS compact attendu).")?;
    if header.get("typ").and_then(|t| t.as_str()) != Some(REPORT_TYPE) {
        return Err("Ce document signé n'est pas un rapport de revue annuelle.");
    }
    let payload = state.keys.verify_document(jws).ok_or(
        "La signature n'est pas valable : le rapport a été modifié, ou il n'a pas été signé par une clé de Passerelle.",
    )?;
    if payload.get("iss").and_then(|i| i.as_str()) != Some(state.settings.issuer.as_str()) {
        return Err("Ce rapport a été signé par un autre émetteur.");
    }
    let mut report: SignedReport = serde_json::from_value(payload)
        .map_err(|_| "Le rapport est signé mais son contenu n'est pas lisible.")?;
    report.kid = header
        .get("kid")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_owned();
    Ok(report)
}
