//! Requests for traces (MCP seed, art. 5.3.4 and 7: « processus organisationnel de demandes
//! de traces »): a partner's security officer asks its Caf for traces beyond the partner's
//! reach (for instance, every action on a family's file, whoever did it); the Caf's security
//! officer answers with an export of the matching traces attached to the request, or refuses
//! with a reason. Filing, answering and each download are traced; the officers are mailed.
//! An attached export is kept `EXPORT_DAYS` days, the request as long as the traces.

use super::query::{self, Filter};
use super::{Event, Origin, TraceActor};
use crate::habilitations::{Actor, HabResult, HabilitationError, Record};
use crate::state::AppState;
use crate::store::security::{TraceRequest, TraceRequestFilter, TraceRequestStatus};
use crate::store::{Account, AdminRole, Outcome};
use chrono::NaiveDate;

/// Days an export attached to an answer stays downloadable.
pub const EXPORT_DAYS: i64 = 30;

/// What a partner's officer files.
#[derive(Debug, Clone, Default)]
pub struct Filing {
    pub purpose: String,
    pub filter: TraceRequestFilter,
}

fn invalid<T>(message: &str) -> HabResult<T> {
    Err(HabilitationError::Invalid(message.into()))
}

fn day(value: &str, name: &str) -> HabResult<NaiveDate> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        HabilitationError::Invalid(format!(
            "La date « {name} » est à donner (jour/mois/année)."
        ))
    })
}

fn is_officer(a: &Account) -> bool {
    a.is_usable() && a.profile.admin_roles.contains(&AdminRole::SecurityOfficer)
}

/// A partner's security officer asks the partner's Caf.
pub async fn file(
    state: &AppState,
    actor: &Actor,
    filing: Filing,
    origin: &Origin,
) -> HabResult<TraceRequest> {
    let profile = &actor.account.profile;
    let Some(partner_id) = profile
        .partner
        .clone()
        .filter(|_| actor.holds(AdminRole::SecurityOfficer))
    else {
        return Err(HabilitationError::Forbidden(
            "Seuls les responsables sécurité d'un partenaire adressent des demandes de traces à leur Caf.".into(),
        ));
    };
    let partner = state
        .stores
        .organisations
        .get_partner(&partner_id)
        .await?
        .ok_or(HabilitationError::NotFound(Record::Partner))?;
    let purpose = filing.purpose.trim().to_owned();
    if purpose.is_empty() {
        return invalid("Dites pourquoi ces traces sont nécessaires (le motif de la demande).");
    }
    if purpose.chars().count() > 1000 {
        return invalid("Le motif compte au plus 1 000 caractères.");
    }
    let mut filter = filing.filter;
    let tidy = |v: &mut Option<String>| {
        *v = v
            .take()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
    };
    tidy(&mut filter.service);
    tidy(&mut filter.target);
    tidy(&mut filter.person);
    tidy(&mut filter.action);
    let (from, to) = (day(&filter.from, "du")?, day(&filter.to, "au")?);
    if from > to {
        return invalid("La date de début suit la date de fin : inversez-les.");
    }
    if filter.service.is_none() && filter.target.is_none() && filter.person.is_none() {
        return invalid(
            "Précisez ce qui est cherché : un service, un objet (un dossier) ou une personne.",
        );
    }
    if filter
        .target
        .as_ref()
        .is_some_and(|t| t.chars().count() > 200)
    {
        return invalid("La référence de l'objet compte au plus 200 caractères.");
    }
    filter.from = from.to_string();
    filter.to = to.to_string();
    let request = TraceRequest {
        id: uuid::Uuid::new_v4().to_string(),
        partner: partner.id.clone(),
        caf: partner.caf.clone(),
        requested_by: actor.account.id.clone(),
        requested_at: state.clock.now(),
        purpose,
        filter,
        status: TraceRequestStatus::Pending,
        answered_by: None,
        answered_at: None,
        answer: None,
        export_csv: None,
        export_count: None,
    };
    state.stores.security.insert_trace_request(&request).await?;
    state
        .tracer
        .record_durable(
            Event::new("trace.request", Outcome::Success)
                .actor(TraceActor::of(&actor.account))
                .target(format!("trace_request:{}", request.id))
                .origin(origin),
        )
        .await?;
    let link = state.settings.endpoint("/console/demandes-de-traces");
    for officer in state
        .stores
        .accounts
        .staff_of_caf(&partner.caf)
        .await?
        .into_iter()
        .filter(is_officer)
    {
        mail(
            state,
            &officer,
            &format!("Demande de traces de « {} »", partner.name),
            &format!(
                "{} {}, responsable sécurité du partenaire « {} », demande des traces à la Caf : {}",
                profile.given_name, profile.family_name, partner.name, request.purpose
            ),
            &link,
        )
        .await;
    }
    Ok(request)
}

async fn mail(state: &AppState, to: &Account, subject: &str, sentence: &str, link: &str) {
    let mail = crate::mail::templates::trace_request(
        to.profile.email.as_str(),
        &format!("{} {}", to.profile.given_name, to.profile.family_name),
        subject,
        sentence,
        link,
    );
    if let Err(e) = state.mailer.send(mail).await {
        tracing::error!(error = %e, "a trace request mail could not be sent");
    }
}

/// The requests an officer sees: their partner's, their Caf's, or all (national operator).
pub async fn list(state: &AppState, actor: &Actor) -> HabResult<Vec<TraceRequest>> {
    let reach = super::reach::security_reach(state, actor).await?;
    Ok(state.stores.security.trace_requests(&reach).await?)
}

/// Whether the actor answers this request: the Caf's security officer, or a national operator.
pub fn answers(actor: &Actor, request: &TraceRequest) -> bool {
    let profile = &actor.account.profile;
    actor.holds(AdminRole::NationalOperator)
        || actor.holds(AdminRole::SecurityOfficer)
            && profile.partner.is_none()
            && profile.caf.as_ref() == Some(&request.caf)
}

async fn visible(state: &AppState, actor: &Actor, id: &str) -> HabResult<TraceRequest> {
    let request = state
        .stores
        .security
        .get_trace_request(id)
        .await?
        .ok_or(HabilitationError::NotFound(Record::TraceRequest))?;
    let mine = actor.holds(AdminRole::SecurityOfficer)
        && actor.account.profile.partner.as_ref() == Some(&request.partner);
    if mine || answers(actor, &request) {
        Ok(request)
    } else {
        Err(HabilitationError::NotFound(Record::TraceRequest))
    }
}

/// The Caf's officer answers: with the export of the matching traces attached (searched in the
/// Caf's reach, and traced as an export), or a refusal whose reason is required.
pub async fn answer(
    state: &AppState,
    actor: &Actor,
    id: &str,
    accept: bool,
    comment: &str,
    origin: &Origin,
) -> HabResult<TraceRequest> {
    let mut request = visible(state, actor, id).await?;
    if !answers(actor, &request) {
        return Err(HabilitationError::Forbidden(
            "Seul le responsable sécurité de la Caf répond aux demandes de traces.".into(),
        ));
    }
    if request.status != TraceRequestStatus::Pending {
        return Err(HabilitationError::Conflict(
            "Cette demande a déjà reçu une réponse.".into(),
        ));
    }
    let comment = comment.trim();
    if !accept && comment.is_empty() {
        return invalid("Dites au demandeur pourquoi la demande est refusée.");
    }
    if comment.chars().count() > 1000 {
        return invalid("La réponse compte au plus 1 000 caractères.");
    }
    if accept {
        let f = &request.filter;
        let bound = |v: &str, upper| query::parse_bound(v, upper);
        let filter = Filter {
            person: f.person.clone(),
            service: f.service.clone(),
            action: f.action.clone(),
            target: f.target.clone(),
            from_us: bound(&f.from, false),
            to_us: bound(&f.to, true),
            limit: 1000,
            ..Filter::default()
        };
        let records = query::export(state, actor, &filter, origin).await?;
        let names = super::names::Names::of(state, &records).await?;
        request.export_count = Some(records.len() as i64);
        request.export_csv = Some(query::to_csv(&records, &names));
    }
    request.status = if accept {
        TraceRequestStatus::Answered
    } else {
        TraceRequestStatus::Refused
    };
    request.answered_by = Some(actor.account.id.clone());
    request.answered_at = Some(state.clock.now());
    request.answer = (!comment.is_empty()).then(|| comment.to_owned());
    if !state.stores.security.answer_trace_request(&request).await? {
        return Err(HabilitationError::Conflict(
            "Cette demande a déjà reçu une réponse.".into(),
        ));
    }
    state
        .tracer
        .record_durable(
            Event::new(
                if accept {
                    "trace.request.answer"
                } else {
                    "trace.request.refuse"
                },
                Outcome::Success,
            )
            .actor(TraceActor::of(&actor.account))
            .partner(Some(request.partner.to_string()))
            .target(format!("trace_request:{}", request.id))
            .origin(origin),
        )
        .await?;
    if let Some(requester) = state
        .stores
        .accounts
        .get_account(&request.requested_by)
        .await?
    {
        let sentence = match (accept, &request.answer) {
            (true, _) => format!(
                "La Caf a répondu à votre demande de traces (« {} ») : {} trace(s) sont jointes, à télécharger depuis la console pendant {EXPORT_DAYS} jours.{}",
                request.purpose,
                request.export_count.unwrap_or(0),
                request
                    .answer
                    .as_deref()
                    .map(|a| format!(" Son message : {a}"))
                    .unwrap_or_default()
            ),
            (false, reason) => format!(
                "La Caf a refusé votre demande de traces (« {} ») : {}",
                request.purpose,
                reason.as_deref().unwrap_or_default()
            ),
        };
        mail(
            state,
            &requester,
            "Réponse de la Caf à votre demande de traces",
            &sentence,
            &state.settings.endpoint("/console/demandes-de-traces"),
        )
        .await;
    }
    Ok(request)
}

/// The export attached to an answered request, for the requester's partner's officers and the
/// Caf's (each download traced).
pub async fn download(
    state: &AppState,
    actor: &Actor,
    id: &str,
    origin: &Origin,
) -> HabResult<String> {
    let request = visible(state, actor, id).await?;
    let Some(csv) = request.export_csv else {
        return Err(HabilitationError::Invalid(format!(
            "Aucun export n'est joint à cette demande (il reste disponible {EXPORT_DAYS} jours après la réponse)."
        )));
    };
    state
        .tracer
        .record_durable(
            Event::new("trace.request.download", Outcome::Success)
                .actor(TraceActor::of(&actor.account))
                .partner(Some(request.partner.to_string()))
                .target(format!("trace_request:{}", request.id))
                .origin(origin),
        )
        .await?;
    Ok(csv)
}
