//! Annexe 1 of the Coopération agreements: the list a partner sends of the people whose access
//! is requested or open (list 1), and of those whose access is to be closed or was closed less
//! than two years ago (list 2).
//!
//! Import reads either a CSV file with a header (`nom;prénom;email;fonction;date`, `,` or `;`)
//! or the text of the annex itself — lines such as `NOM Prénom ; email ; fonction ; date` or
//! `- Madame Camille POLLET, c.pollet@…, Directrice`, under the headings "1 -" and "2 -". It
//! first computes a plan (who is created, granted, kept, closed); nothing is written until the
//! plan is applied, and a plan with errors cannot be.

use super::access::{self, Action, Target};
use super::manage::{self, Author, GrantRequest, PersonFields, StatusChange, record};
use super::{Actor, HabResult, HabilitationError, PartnerContext};
use crate::habilitations::Record;
use crate::state::AppState;
use crate::store::{Account, Habilitation, HabilitationStatus, Holder};
use crate::types::{ClientId, Email, PartnerId, RoleCode};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Closed accesses stay on the annex this long (the seeds: "moins de 2 ans").
pub const CLOSED_LISTED_SECONDS: i64 = 2 * 365 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum List {
    /// "Personnes pour lesquelles un nouvel accès est demandé ou qui ont un accès ouvert".
    Open,
    /// "Personnes pour lesquelles une clôture de l'accès est demandée ou qui ont un accès
    /// clôturé depuis moins de 2 ans".
    Closed,
}

/// One person of the annex.
#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub line: usize,
    pub civility: Option<String>,
    pub family_name: String,
    pub given_name: String,
    pub email: Email,
    pub function: Option<String>,
    pub date: Option<NaiveDate>,
    pub list: List,
}

/// A line that could not be read, in words the sender can act on.
#[derive(Debug, Clone, Serialize)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

fn civility_of(word: &str) -> Option<&'static str> {
    match word.trim_end_matches('.').to_lowercase().as_str() {
        "madame" | "mme" => Some("Mme"),
        "monsieur" | "m" => Some("M."),
        _ => None,
    }
}

/// "NOM Prénom", "Prénom NOM" or "Madame Prénom NOM": the words written in capitals are the
/// family name.
fn split_name(text: &str) -> Option<(Option<String>, String, String)> {
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let civility = words
        .first()
        .and_then(|w| civility_of(w))
        .map(str::to_owned);
    if civility.is_some() {
        words.remove(0);
    }
    let is_upper =
        |w: &str| w.chars().any(char::is_alphabetic) && !w.chars().any(char::is_lowercase);
    let family: Vec<&str> = words.iter().copied().filter(|w| is_upper(w)).collect();
    let given: Vec<&str> = words.iter().copied().filter(|w| !is_upper(w)).collect();
    if family.is_empty() || given.is_empty() {
        return None;
    }
    Some((civility, family.join(" "), given.join(" ")))
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%d/%m/%Y")
        .or_else(|_| NaiveDate::parse_from_str(text, "%Y-%m-%d"))
        .ok()
}

fn section_of(line: &str) -> Option<List> {
    let lower = line.trim().to_lowercase();
    if lower.starts_with("1 -") || lower.starts_with("1 –") || lower.contains("accès ouvert") {
        Some(List::Open)
    } else if lower.starts_with("2 -") || lower.starts_with("2 –") || lower.contains("clôtur") {
        Some(List::Closed)
    } else {
        None
    }
}

fn optional(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Reads an annex: CSV with a header, or the annex's own text. Every unreadable person line
/// is reported with its number; lines without an address (titles, dates) are text.
pub fn parse(text: &str) -> (Vec<Person>, Vec<LineError>) {
    let text = text.trim_start_matches('\u{feff}');
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let header = first.to_lowercase();
    if (header.contains("email") || header.contains("courriel")) && header.contains("nom") {
        parse_csv(text)
    } else {
        parse_lines(text)
    }
}

fn parse_lines(text: &str) -> (Vec<Person>, Vec<LineError>) {
    let mut people = Vec::new();
    let mut errors = Vec::new();
    let mut list = List::Open;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if !raw.contains('@') {
            if let Some(section) = section_of(raw) {
                list = section;
            }
            continue;
        }
        let body = raw.trim().trim_start_matches(['-', '•', '*']).trim();
        let separator = if body.contains(';') { ';' } else { ',' };
        let fields: Vec<&str> = body.split(separator).map(str::trim).collect();
        let error = |message: String| LineError { line, message };
        let Some(at) = fields.iter().position(|f| f.contains('@')) else {
            continue;
        };
        if at != 1 {
            errors.push(error(
                "attendu : « NOM Prénom ; adresse ; fonction ; date »".into(),
            ));
            continue;
        }
        let Some((civility, family_name, given_name)) = split_name(fields[0]) else {
            errors.push(error(format!(
                "« {} » : écrivez le nom en capitales et le prénom en minuscules (DUPONT Marie)",
                fields[0]
            )));
            continue;
        };
        let email = match Email::parse(fields[1]) {
            Ok(e) => e,
            Err(_) => {
                errors.push(error(format!("« {} » n'est pas une adresse", fields[1])));
                continue;
            }
        };
        let date = match fields.get(3).filter(|d| !d.is_empty()) {
            Some(d) => match parse_date(d) {
                Some(d) => Some(d),
                None => {
                    errors.push(error(format!("« {d} » n'est pas une date (JJ/MM/AAAA)")));
                    continue;
                }
            },
            None => None,
        };
        people.push(Person {
            line,
            civility,
            family_name,
            given_name,
            email,
            function: optional(fields.get(2).copied()),
            date,
            list,
        });
    }
    (people, errors)
}

fn parse_csv(text: &str) -> (Vec<Person>, Vec<LineError>) {
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.matches(';').count() >= first.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut people = Vec::new();
    let mut errors = Vec::new();
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|h| h.to_lowercase()).collect(),
        Err(e) => {
            return (
                people,
                vec![LineError {
                    line: 1,
                    message: format!("en-tête illisible : {e}"),
                }],
            );
        }
    };
    let column = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (Some(email_at), Some(family_at)) = (
        column(&["email", "courriel", "adresse électronique"]),
        column(&["nom"]),
    ) else {
        return (
            people,
            vec![LineError {
                line: 1,
                message: "l'en-tête doit nommer au moins les colonnes « nom » et « email »".into(),
            }],
        );
    };
    let given_at = column(&["prénom", "prenom"]);
    let function_at = column(&["fonction", "qualité", "qualite"]);
    let date_at = column(&["date"]);
    let list_at = column(&["liste", "accès", "acces"]);
    let civility_at = column(&["civilité", "civilite"]);
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(LineError {
                    line: e.position().map(|p| p.line() as usize).unwrap_or(0),
                    message: format!("ligne illisible : {e}"),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        // A cell Passerelle's own export neutralised (`'=…`) reads back as it was.
        let get = |at: Option<usize>| {
            crate::csv_out::restore(at.and_then(|i| record.get(i)).unwrap_or("").trim())
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let error = |message: String| LineError { line, message };
        let email = match Email::parse(get(Some(email_at))) {
            Ok(e) => e,
            Err(_) => {
                errors.push(error(format!(
                    "« {} » n'est pas une adresse",
                    get(Some(email_at))
                )));
                continue;
            }
        };
        let (civility, family_name, given_name) = match given_at {
            Some(_) => (
                optional(Some(get(civility_at))).and_then(|c| civility_of(&c).map(str::to_owned)),
                get(Some(family_at)).to_owned(),
                get(given_at).to_owned(),
            ),
            None => match split_name(get(Some(family_at))) {
                Some(parts) => parts,
                None => {
                    errors.push(error("nom et prénom illisibles".into()));
                    continue;
                }
            },
        };
        if family_name.is_empty() || given_name.is_empty() {
            errors.push(error("le nom et le prénom sont obligatoires".into()));
            continue;
        }
        let date = match get(date_at) {
            "" => None,
            d => match parse_date(d) {
                Some(d) => Some(d),
                None => {
                    errors.push(error(format!("« {d} » n'est pas une date (JJ/MM/AAAA)")));
                    continue;
                }
            },
        };
        let list = match get(list_at).to_lowercase() {
            l if l.starts_with("clôtur") || l.starts_with("clotur") || l == "2" => List::Closed,
            _ => List::Open,
        };
        people.push(Person {
            line,
            civility,
            family_name,
            given_name,
            email,
            function: optional(Some(get(function_at))),
            date,
            list,
        });
    }
    (people, errors)
}

/// What an import is about: one service role of one partner.
#[derive(Debug, Clone)]
pub struct ImportTarget {
    pub partner: PartnerId,
    pub client_id: ClientId,
    pub role: RoleCode,
    pub scope: Vec<String>,
}

/// What applying the annex would do.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// New accounts, each receiving the habilitation and an activation mail.
    pub create: Vec<Person>,
    /// Existing people of the partner who receive the habilitation.
    pub grant: Vec<Person>,
    /// People who already hold it.
    pub keep: Vec<Person>,
    /// Holders whose habilitation is closed: listed in list 2, or absent from list 1.
    pub close: Vec<Closure>,
    pub errors: Vec<LineError>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Closure {
    pub email: Email,
    pub given_name: String,
    pub family_name: String,
    pub habilitation: String,
    /// `list_2` or `absent`.
    pub why: &'static str,
}

/// Computes the plan of an import; checks the actor's rights on everything it would do.
pub async fn plan(
    state: &AppState,
    actor: &Actor,
    target: &ImportTarget,
    text: &str,
) -> HabResult<Plan> {
    let context = PartnerContext::load(state, &target.partner).await?;
    access::check(actor, &context, Action::ManageUsers)?;
    access::check(
        actor,
        &context,
        Action::Grant {
            client_id: &target.client_id,
            role: &target.role,
            target: Target::Other,
        },
    )?;
    let service = state
        .stores
        .services
        .get_service(&target.client_id)
        .await?
        .ok_or(HabilitationError::NotFound(Record::Service))?;
    manage::validate_role_and_scope(&service, &target.role, &target.scope)?;
    let (people, mut errors) = parse(text);
    let mut plan = Plan::default();
    let mut seen = BTreeSet::new();
    let holders = open_holders(state, target).await?;
    let mut listed_open = BTreeSet::new();
    for person in people {
        if !seen.insert(person.email.clone()) {
            errors.push(LineError {
                line: person.line,
                message: format!("{} figure deux fois", person.email),
            });
            continue;
        }
        let existing = state
            .stores
            .accounts
            .find_account_by_email(&person.email)
            .await?;
        if let Some(a) = &existing {
            if a.profile.partner.as_ref() != Some(&target.partner) {
                // Not revealed to the partner: the Caf is told where the address is used.
                manage::report_unavailable_email(state, &Author::Person(actor), &context, a)
                    .await?;
                errors.push(LineError {
                    line: person.line,
                    message: manage::unavailable_email_message(&person.email),
                });
                continue;
            }
            if a.closed_at.is_some() && person.list == List::Open {
                errors.push(LineError {
                    line: person.line,
                    message: format!(
                        "le compte de {} est fermé : il ne peut pas être rouvert par l'annexe",
                        person.email
                    ),
                });
                continue;
            }
        }
        match (person.list, existing) {
            (List::Open, None) => {
                listed_open.insert(person.email.clone());
                plan.create.push(person);
            }
            (List::Open, Some(a)) => {
                listed_open.insert(person.email.clone());
                if holders.contains_key(&a.id.to_string()) {
                    plan.keep.push(person);
                } else {
                    plan.grant.push(person);
                }
            }
            (List::Closed, Some(a)) => {
                if let Some(h) = holders.get(&a.id.to_string()) {
                    plan.close.push(closure(&a, h, "list_2"));
                } else {
                    plan.keep.push(person);
                }
            }
            (List::Closed, None) => plan.keep.push(person),
        }
    }
    for (account_id, h) in &holders {
        let Some(account) = state
            .stores
            .accounts
            .get_account(&crate::types::AccountId::from_stored(account_id.clone()))
            .await?
        else {
            continue;
        };
        if !listed_open.contains(&account.profile.email)
            && !plan.close.iter().any(|c| c.email == account.profile.email)
        {
            plan.close.push(closure(&account, h, "absent"));
        }
    }
    // The quota must hold once the plan is applied.
    let quotas = context.quotas(state).await?;
    if let Some(&maximum) = quotas.get(&(target.client_id.clone(), target.role.clone())) {
        let used = state
            .stores
            .habilitations
            .count_holders(&target.partner, &target.client_id, &target.role)
            .await?;
        let after =
            (used as usize + plan.create.len() + plan.grant.len()).saturating_sub(plan.close.len());
        if after > maximum as usize {
            errors.push(LineError {
                line: 0,
                message: format!(
                    "quota dépassé : {after} personnes auraient le rôle « {} » pour {maximum} autorisées",
                    target.role
                ),
            });
        }
    }
    plan.errors = errors;
    Ok(plan)
}

fn closure(account: &Account, h: &Habilitation, why: &'static str) -> Closure {
    Closure {
        email: account.profile.email.clone(),
        given_name: account.profile.given_name.clone(),
        family_name: account.profile.family_name.clone(),
        habilitation: h.id.to_string(),
        why,
    }
}

/// The people holding an open direct habilitation for the target role, by account id.
async fn open_holders(
    state: &AppState,
    target: &ImportTarget,
) -> HabResult<BTreeMap<String, Habilitation>> {
    Ok(state
        .stores
        .habilitations
        .habilitations_of_partner(&target.partner)
        .await?
        .into_iter()
        .filter(|h| {
            h.client_id == target.client_id
                && h.role == target.role
                && h.status != HabilitationStatus::Closed
        })
        .filter_map(|h| match &h.holder {
            Holder::Account(a) => Some((a.to_string(), h)),
            Holder::Group(_) => None,
        })
        .collect())
}

/// What an applied import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Applied {
    pub created: usize,
    pub granted: usize,
    pub kept: usize,
    pub closed: usize,
}

/// Applies an import: recomputes the plan (the data may have changed since the dry run) and
/// refuses it when it has errors.
pub async fn apply(
    state: &AppState,
    actor: &Actor,
    target: &ImportTarget,
    text: &str,
) -> HabResult<(Plan, Applied)> {
    let plan = plan(state, actor, target, text).await?;
    if !plan.errors.is_empty() {
        return Err(HabilitationError::Invalid(format!(
            "L'annexe comporte {} erreur(s) : corrigez-les avant de l'appliquer.",
            plan.errors.len()
        )));
    }
    let context = PartnerContext::load(state, &target.partner).await?;
    let author = Author::Person(actor);
    let reason = format!(
        "Annexe 1 transmise le {}",
        super::today().format("%d/%m/%Y")
    );
    let mut applied = Applied {
        kept: plan.keep.len(),
        ..Applied::default()
    };
    for c in &plan.close {
        let (h, _) = manage::habilitation(
            state,
            actor,
            &crate::types::HabilitationId::parse(&c.habilitation)
                .map_err(|e| HabilitationError::Invalid(e.0))?,
        )
        .await?;
        manage::change_status_as(state, author, h, StatusChange::Close, &reason).await?;
        applied.closed += 1;
    }
    let grant = |account: &Account| GrantRequest {
        holder: Holder::Account(account.id.clone()),
        client_id: target.client_id.clone(),
        role: target.role.clone(),
        scope: target.scope.clone(),
        valid_from: None,
        valid_until: None,
    };
    for p in &plan.grant {
        let account = state
            .stores
            .accounts
            .find_account_by_email(&p.email)
            .await?
            .ok_or(HabilitationError::NotFound(Record::Account))?;
        manage::grant_as(state, author, &context, grant(&account), Some(&reason)).await?;
        applied.granted += 1;
    }
    for p in &plan.create {
        let fields = PersonFields {
            email: p.email.clone(),
            civility: p.civility.clone(),
            given_name: p.given_name.clone(),
            family_name: p.family_name.clone(),
            function: p.function.clone(),
        };
        let account = manage::create_person_as(
            state,
            author,
            &context,
            fields,
            vec![target.client_id.clone()],
        )
        .await?;
        manage::grant_as(state, author, &context, grant(&account), Some(&reason)).await?;
        applied.created += 1;
    }
    record(
        state,
        author,
        Some(&target.partner),
        "annexe1.import",
        format!("partner:{}", target.partner),
        Some(&reason),
        serde_json::json!({
            "service": target.client_id,
            "role": target.role,
            "created": applied.created,
            "granted": applied.granted,
            "closed": applied.closed,
        }),
    )
    .await?;
    Ok((plan, applied))
}

/// One person of an exported annex.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub civility: Option<String>,
    pub family_name: String,
    pub given_name: String,
    pub email: String,
    pub function: Option<String>,
    /// Granted (list 1) or closed (list 2), ISO date.
    pub date: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub partner: String,
    pub partner_name: String,
    pub service: String,
    pub service_name: String,
    pub transmitted_on: String,
    pub open: Vec<Row>,
    pub closed: Vec<Row>,
}

/// The current annex of a partner for a service: people with an open access (directly or
/// through a group), and people whose access was closed less than two years ago.
pub async fn export(
    state: &AppState,
    actor: &Actor,
    partner: &PartnerId,
    client_id: &ClientId,
) -> HabResult<Export> {
    let context = manage::partner(state, actor, partner).await?;
    let service = state
        .stores
        .services
        .get_service(client_id)
        .await?
        .ok_or(HabilitationError::NotFound(Record::Service))?;
    let now = state.clock.now();
    let mut open: BTreeMap<String, (Account, i64, BTreeSet<String>)> = BTreeMap::new();
    let mut closed: BTreeMap<String, (Account, i64, BTreeSet<String>)> = BTreeMap::new();
    for h in state
        .stores
        .habilitations
        .habilitations_of_partner(partner)
        .await?
        .into_iter()
        .filter(|h| &h.client_id == client_id)
    {
        let people = super::people_reached(state, &h).await?;
        for id in people {
            let Some(account) = state.stores.accounts.get_account(&id).await? else {
                continue;
            };
            let key = account.id.to_string();
            match (h.status, h.closed_at) {
                (HabilitationStatus::Closed, Some(at)) if now - at < CLOSED_LISTED_SECONDS => {
                    let entry = closed
                        .entry(key)
                        .or_insert_with(|| (account, at, BTreeSet::new()));
                    entry.1 = entry.1.max(at);
                    entry.2.insert(h.role.to_string());
                }
                (HabilitationStatus::Closed, _) => {}
                _ => {
                    let entry = open
                        .entry(key)
                        .or_insert_with(|| (account, h.granted_at, BTreeSet::new()));
                    entry.1 = entry.1.min(h.granted_at);
                    entry.2.insert(h.role.to_string());
                }
            }
        }
    }
    closed.retain(|k, _| !open.contains_key(k));
    let rows = |map: BTreeMap<String, (Account, i64, BTreeSet<String>)>| {
        let mut rows: Vec<Row> = map
            .into_values()
            .map(|(a, at, roles)| Row {
                civility: a.profile.civility.clone(),
                family_name: a.profile.family_name.clone(),
                given_name: a.profile.given_name.clone(),
                email: a.profile.email.to_string(),
                function: a.profile.function.clone(),
                date: chrono::DateTime::from_timestamp(at, 0)
                    .map(|d| d.date_naive().to_string())
                    .unwrap_or_default(),
                roles: roles.into_iter().collect(),
            })
            .collect();
        rows.sort_by(|a, b| {
            (a.family_name.to_lowercase(), a.given_name.to_lowercase())
                .cmp(&(b.family_name.to_lowercase(), b.given_name.to_lowercase()))
        });
        rows
    };
    Ok(Export {
        partner: context.partner.id.to_string(),
        partner_name: context.partner.name.clone(),
        service: service.client_id.to_string(),
        service_name: service.name.clone(),
        transmitted_on: super::today().to_string(),
        open: rows(open),
        closed: rows(closed),
    })
}

/// The annex as CSV (`;`, UTF-8 with a byte-order mark so that spreadsheets read accents),
/// in the column order the import reads back.
pub fn to_csv(export: &Export) -> String {
    let headers = [
        "liste",
        "civilité",
        "nom",
        "prénom",
        "email",
        "fonction",
        "date",
        "rôles",
    ];
    let rows = [("ouvert", &export.open), ("clôturé", &export.closed)]
        .into_iter()
        .flat_map(|(list, rows)| {
            rows.iter().map(move |r| {
                [
                    list.to_owned(),
                    r.civility.clone().unwrap_or_default(),
                    r.family_name.clone(),
                    r.given_name.clone(),
                    r.email.clone(),
                    r.function.clone().unwrap_or_default(),
                    r.date.clone(),
                    r.roles.join(" "),
                ]
            })
        });
    format!("\u{feff}{}", crate::csv_out::write(&headers, rows))
}
