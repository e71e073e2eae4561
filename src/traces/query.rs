//! Searching and exporting traces, for security officers (Caf: their Caf's partners and its
//! own staff; partner: their own) and national operators (everything). Every search and export is itself traced.

pub use super::reach::{reach, staff_reach};
use super::{Event, Origin, TraceActor, actions};
use crate::habilitations::{Actor, HabResult, HabilitationError};
use crate::state::AppState;
use crate::store::{Outcome, TraceQuery, TraceRecord};
use crate::types::{Email, PartnerId};

/// The most records one export holds.
pub const EXPORT_LIMIT: usize = 100_000;

/// A bound of a search, in microseconds: an RFC 3339 instant, or a date (`YYYY-MM-DD`, a day
/// in Europe/Paris), which stands for its first instant as a lower bound and its last as an
/// upper one (a `to` date is included, an instant is not).
pub fn parse_bound(value: &str, upper: bool) -> Option<i64> {
    let value = value.trim();
    if let Ok(instant) = chrono::DateTime::parse_from_rfc3339(value) {
        return Some(instant.timestamp_micros());
    }
    // A date is a day in Paris, as the console shows times.
    let day = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    let seconds = if upper {
        crate::clock::paris_end_of(day)
    } else {
        crate::clock::paris_start_of(day)
    };
    Some(seconds * 1_000_000)
}

/// What a security officer asks for.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// An account id, a professional email, or a name (the one person of that name in reach).
    pub person: Option<String>,
    pub partner: Option<String>,
    pub service: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    /// A failure's reason code (`wrong_password`…).
    pub reason: Option<String>,
    /// The record concerned, exactly as traced (`dossier:…`).
    pub target: Option<String>,
    pub ip: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// The cursor of the next page (`at_us.seq` of the last record of the previous one).
    pub after: Option<String>,
    pub limit: u32,
}

pub struct Page {
    pub records: Vec<TraceRecord>,
    /// Present when more records match.
    pub next: Option<String>,
}

fn cursor_of(r: &TraceRecord) -> String {
    format!("{}.{}", r.trace.at_us, r.seq)
}

fn parse_cursor(value: &str) -> HabResult<(i64, i64)> {
    value
        .split_once('.')
        .and_then(|(a, s)| Some((a.parse().ok()?, s.parse().ok()?)))
        .ok_or_else(|| HabilitationError::Invalid("Curseur de page invalide.".into()))
}

async fn to_query(state: &AppState, actor: &Actor, filter: &Filter) -> HabResult<TraceQuery> {
    let reach = reach(state, actor).await?;
    let account = match filter
        .person
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        Some(p) if p.contains('@') => {
            let email = Email::parse(p).map_err(|_| {
                HabilitationError::Invalid(format!("« {p} » n'est pas une adresse électronique."))
            })?;
            // An unknown person simply has no trace: nothing tells whether the account exists.
            Some(
                state
                    .stores
                    .accounts
                    .find_account_by_email(&email)
                    .await?
                    .map(|a| a.id.to_string())
                    .unwrap_or_else(|| "-".into()),
            )
        }
        // An identifier (a UUID, or any word with a digit: names have none).
        Some(id)
            if uuid::Uuid::parse_str(id).is_ok()
                || !id.contains(char::is_whitespace)
                    && id.contains(|c: char| c.is_ascii_digit()) =>
        {
            Some(id.to_owned())
        }
        // A name: the one person of that name in the officer's reach (its partners' people
        // and, for a Caf's officer, the Caf's own staff).
        Some(name) => {
            let params = crate::habilitations::directory::ListParams {
                q: Some(name.to_owned()),
                limit: Some(6),
                ..Default::default()
            };
            let mut found: Vec<crate::store::Account> =
                crate::habilitations::directory::people(state, actor, &params)
                    .await?
                    .items
                    .into_iter()
                    .map(|h| h.account)
                    .collect();
            let words: Vec<String> = crate::store::fold(name)
                .split(' ')
                .map(str::to_owned)
                .collect();
            for caf in staff_reach(actor) {
                let caf = crate::types::CafCode::parse(&caf)
                    .map_err(|e| HabilitationError::Invalid(e.0))?;
                for a in state.stores.accounts.staff_of_caf(&caf).await? {
                    let key = crate::store::fold(&format!(
                        "{} {} {}",
                        a.profile.given_name, a.profile.family_name, a.profile.email
                    ));
                    if words.iter().all(|w| key.contains(w.as_str())) {
                        found.push(a);
                    }
                }
            }
            match found.as_slice() {
                [] => {
                    return Err(HabilitationError::Invalid(format!(
                        "Aucune personne de votre périmètre ne s'appelle « {name} » : vérifiez l'orthographe, ou cherchez par adresse électronique."
                    )));
                }
                [one] => Some(one.id.to_string()),
                many => {
                    return Err(HabilitationError::Invalid(format!(
                        "Plusieurs personnes répondent à « {name} » : {}{}. Précisez avec l'adresse électronique.",
                        many.iter()
                            .take(6)
                            .map(|a| format!(
                                "{} {} ({})",
                                a.profile.given_name, a.profile.family_name, a.profile.email
                            ))
                            .collect::<Vec<_>>()
                            .join(", "),
                        if many.len() > 6 { ", …" } else { "" }
                    )));
                }
            }
        }
        None => None,
    };
    if let (Some(from), Some(to)) = (filter.from_us, filter.to_us)
        && from >= to
    {
        return Err(HabilitationError::Invalid(
            "La date de début suit la date de fin : inversez-les.".into(),
        ));
    }
    if let Some(ip) = &filter.ip
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        return Err(HabilitationError::Invalid(format!(
            "« {ip} » n'est pas une adresse IP (par exemple 192.0.2.10 ou 2001:db8::1)."
        )));
    }
    if let Some(p) = &filter.partner {
        PartnerId::parse(p)
            .map_err(|_| HabilitationError::Invalid(format!("Partenaire « {p} » inconnu.")))?;
    }
    if filter
        .target
        .as_ref()
        .is_some_and(|t| t.chars().count() > 200)
    {
        return Err(HabilitationError::Invalid(
            "La référence de l'objet compte au plus 200 caractères.".into(),
        ));
    }
    if let Some(r) = &filter.reason
        && !actions::valid_business_action(r)
    {
        return Err(HabilitationError::Invalid(format!(
            "Motif « {r} » inconnu."
        )));
    }
    if let Some(a) = &filter.action
        && !actions::valid_business_action(a)
    {
        return Err(HabilitationError::Invalid(format!(
            "Action « {a} » inconnue."
        )));
    }
    Ok(TraceQuery {
        reach_cafs: if reach.is_some() {
            staff_reach(actor)
        } else {
            Vec::new()
        },
        reach,
        account,
        partner: filter.partner.clone(),
        client_id: filter.service.clone(),
        action: filter.action.clone(),
        outcome: filter.outcome,
        reason: filter.reason.clone(),
        target: filter.target.clone(),
        ip: filter.ip.clone(),
        from_us: filter.from_us,
        to_us: filter.to_us,
        before: filter.after.as_deref().map(parse_cursor).transpose()?,
        limit: filter.limit.clamp(1, 1000),
    })
}

/// A summary of the filter made of references only, for the trace of the search itself.
fn describe(query: &TraceQuery) -> String {
    let mut parts = Vec::new();
    for (name, value) in [
        ("person", &query.account),
        ("partner", &query.partner),
        ("service", &query.client_id),
        ("action", &query.action),
        ("reason", &query.reason),
        ("target", &query.target),
        ("ip", &query.ip),
    ] {
        if let Some(v) = value {
            parts.push(format!("{name}:{v}"));
        }
    }
    if let Some(o) = query.outcome {
        parts.push(format!("outcome:{}", o.as_str()));
    }
    if let Some(f) = query.from_us {
        parts.push(format!("from:{f}"));
    }
    if let Some(t) = query.to_us {
        parts.push(format!("to:{t}"));
    }
    if parts.is_empty() {
        "traces:all".into()
    } else {
        parts.join(",")
    }
}

/// One page of the matching traces, newest first. The search is traced before it answers.
pub async fn search(
    state: &AppState,
    actor: &Actor,
    filter: &Filter,
    origin: &Origin,
) -> HabResult<Page> {
    let mut query = to_query(state, actor, filter).await?;
    let limit = query.limit;
    query.limit = limit + 1;
    state
        .tracer
        .record_durable(
            Event::new("trace.query", Outcome::Success)
                .actor(TraceActor::of(&actor.account))
                .target(describe(&query))
                .origin(origin),
        )
        .await?;
    let mut records = state.tracer.store().search(&query).await?;
    let next = if records.len() > limit as usize {
        records.truncate(limit as usize);
        records.last().map(cursor_of)
    } else {
        None
    };
    Ok(Page { records, next })
}

/// Every matching trace (at most `EXPORT_LIMIT`), newest first; the export is traced.
pub async fn export(
    state: &AppState,
    actor: &Actor,
    filter: &Filter,
    origin: &Origin,
) -> HabResult<Vec<TraceRecord>> {
    let mut query = to_query(state, actor, filter).await?;
    state
        .tracer
        .record_durable(
            Event::new("trace.export", Outcome::Success)
                .actor(TraceActor::of(&actor.account))
                .target(describe(&query))
                .origin(origin),
        )
        .await?;
    let mut all = Vec::new();
    query.limit = 5_000;
    loop {
        let page = state.tracer.store().search(&query).await?;
        let done = page.len() < query.limit as usize;
        query.before = page.last().map(|r| (r.trace.at_us, r.seq));
        all.extend(page);
        if done || all.len() >= EXPORT_LIMIT {
            break;
        }
    }
    all.truncate(EXPORT_LIMIT);
    super::alerts::large_export(state, actor, all.len()).await?;
    Ok(all)
}

/// A trace as one line of CSV (`;`) or JSON.
#[derive(Debug, serde::Serialize)]
pub struct TraceLine {
    pub seq: i64,
    pub id: String,
    pub stream: String,
    pub at: String,
    pub actor_account: Option<String>,
    pub actor_partner: Option<String>,
    pub actor_caf: Option<String>,
    pub partner: Option<String>,
    pub session: Option<String>,
    pub service: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: &'static str,
    pub reason: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// When Passerelle received a relying application's event (`at` is the time it gave).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<String>,
    pub hash: String,
}

fn rfc3339_us(at_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(at_us)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

impl From<&TraceRecord> for TraceLine {
    fn from(r: &TraceRecord) -> Self {
        let t = &r.trace;
        Self {
            seq: r.seq,
            id: t.id.clone(),
            stream: t.stream.clone(),
            at: rfc3339_us(t.at_us),
            actor_account: t.actor_account.clone(),
            actor_partner: t.actor_partner.clone(),
            actor_caf: t.actor_caf.clone(),
            partner: t.partner.clone(),
            session: t.session.clone(),
            service: t.client_id.clone(),
            action: t.action.clone(),
            target: t.target.clone(),
            outcome: t.outcome.as_str(),
            reason: t.reason.clone(),
            ip: t.ip.clone(),
            user_agent: t.user_agent.clone(),
            request_id: t.request_id.clone(),
            received_at: t.received_at_us.map(rfc3339_us),
            hash: super::verify::hex(&r.hash),
        }
    }
}

/// The CSV columns: every field of [`TraceLine`], with the names and French labels beside
/// the ids and codes they explain.
const CSV_HEADERS: [&str; 28] = [
    "seq",
    "id",
    "stream",
    "at",
    "date_heure_de_paris",
    "actor_account",
    "personne",
    "adresse",
    "actor_partner",
    "actor_caf",
    "partner",
    "partenaire",
    "session",
    "service",
    "nom_du_service",
    "action",
    "libelle_action",
    "target",
    "objet",
    "outcome",
    "resultat",
    "reason",
    "motif",
    "ip",
    "user_agent",
    "request_id",
    "received_at",
    "hash",
];

/// An administrative change's target in words: "habilitation.grant habilitation:…" is an
/// « attribution d'une habilitation ».
pub fn change_words(action: &str, target: &str) -> Option<&'static str> {
    let code = target.split_once(' ').map_or(target, |(code, _)| code);
    let words = crate::labels::action(code);
    (action == "admin.change" && words != "autre changement").then_some(words)
}

/// A trace search's filter (the target of `trace.query` and `trace.export`, see `describe`) in
/// words: « personne : Sophie Lambert, action : Connexion par mot de passe, du 01/12/2026… ».
pub fn filter_words(target: &str, names: &super::names::Names) -> Option<String> {
    if target == "traces:all" {
        return Some("toutes les traces".into());
    }
    let mut words = Vec::new();
    for part in target.split(',') {
        let (name, value) = part.split_once(':')?;
        let time = |v: &str| v.parse().ok().map(crate::clock::paris_seconds);
        words.push(match name {
            "person" => format!(
                "personne : {}",
                names.person(value).map_or(value, |(n, _)| n)
            ),
            "partner" => format!("partenaire : {}", names.partner(value).unwrap_or(value)),
            "service" => format!("service : {}", names.service(value).unwrap_or(value)),
            "action" => format!("action : {}", actions::action_label(value).unwrap_or(value)),
            "reason" => format!("motif : {}", actions::reason_label(value).unwrap_or(value)),
            "outcome" => format!(
                "résultat : {}",
                Outcome::parse(value).map_or(value.to_owned(), |o| outcome_label(o).to_owned())
            ),
            "ip" => format!("IP : {value}"),
            "target" => format!("objet : {value}"),
            "from" => format!("depuis le {}", time(value)?),
            "to" => format!("jusqu'au {} (exclu)", time(value)?),
            _ => return None,
        });
    }
    Some(words.join(", "))
}

/// The French word of an outcome.
pub fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "succès",
        Outcome::Failure => "échec",
    }
}

impl TraceLine {
    /// The cells of one CSV line, in the order of [`CSV_HEADERS`].
    fn cells(self, r: &TraceRecord, names: &super::names::Names) -> [String; 28] {
        let t = &r.trace;
        let o = Option::unwrap_or_default;
        let person = t.actor_account.as_deref().and_then(|a| names.person(a));
        let owned = |v: Option<&str>| v.map(str::to_owned).unwrap_or_default();
        [
            self.seq.to_string(),
            self.id,
            self.stream,
            self.at,
            crate::clock::paris_seconds(t.at_us),
            o(self.actor_account),
            owned(person.map(|p| p.0)),
            owned(person.map(|p| p.1)),
            o(self.actor_partner),
            o(self.actor_caf),
            o(self.partner),
            owned(t.partner.as_deref().and_then(|p| names.partner(p))),
            o(self.session),
            o(self.service),
            owned(t.client_id.as_deref().and_then(|c| names.service(c))),
            self.action,
            owned(super::actions::action_label(&t.action)),
            o(self.target),
            owned(
                t.target
                    .as_deref()
                    .and_then(|target| change_words(&t.action, target)),
            ),
            self.outcome.to_owned(),
            outcome_label(t.outcome).to_owned(),
            o(self.reason),
            owned(t.reason.as_deref().and_then(super::actions::reason_label)),
            o(self.ip),
            o(self.user_agent),
            o(self.request_id),
            o(self.received_at),
            self.hash,
        ]
    }
}

/// The traces as CSV for a French spreadsheet: `;`, UTF-8 with a byte-order mark, names and
/// labels beside the ids, every cell neutralised against formula injection (user agents,
/// targets and reasons come from outside).
pub fn to_csv(records: &[TraceRecord], names: &super::names::Names) -> String {
    format!(
        "\u{feff}{}",
        crate::csv_out::write(
            &CSV_HEADERS,
            records.iter().map(|r| TraceLine::from(r).cells(r, names)),
        )
    )
}

pub fn to_json_lines(records: &[TraceRecord]) -> String {
    let mut out = String::new();
    for r in records {
        out.push_str(&serde_json::to_string(&TraceLine::from(r)).unwrap_or_default());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_bound;

    #[test]
    fn a_to_date_includes_its_whole_day_an_instant_does_not() {
        let day = 86_400 * 1_000_000;
        let from = parse_bound("2026-01-31", false).unwrap();
        let to = parse_bound("2026-01-31", true).unwrap();
        assert_eq!(to - from, day);
        assert_eq!(
            parse_bound("2026-01-30T23:00:00Z", true),
            Some(from),
            "Paris, UTC+1"
        );
        assert_eq!(parse_bound("31/01/2026", false), None);
    }
}
