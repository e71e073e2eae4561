//! What the security dashboard shows a security officer, within their reach: logins and
//! failures per day and per hour (from the counters the trace store keeps beside the traces,
//! so that millions of traces are not counted at each view), failures by reason, accounts
//! locked now, accounts without a login for months, the latest administrative changes, and
//! the searches and exports of traces by the other officers. Viewing it is traced.

use super::reach::{reach, staff_reach};
use super::{Event, Origin, TraceActor};
use crate::accounts::throttle::{self, Gate};
use crate::habilitations::directory::{self, ListParams};
use crate::habilitations::{Actor, HabResult, HabilitationError};
use crate::state::AppState;
use crate::store::{Account, CountQuery, CountRow, Outcome, TraceQuery, TraceRecord};
use chrono::{Datelike, NaiveDate};
use std::collections::{BTreeMap, HashSet};

const HOUR_US: i64 = 3_600_000_000;
/// The longest period a dashboard covers (the traces' retention).
pub const MAX_DAYS: i64 = 186;
/// Accounts examined for the dormant list, oldest first.
const DORMANT_SCAN: usize = 5_000;
/// Dormant accounts listed (the count says how many there are).
pub const DORMANT_SHOWN: usize = 50;

/// What the officer asked for.
#[derive(Debug, Clone)]
pub struct Request {
    /// First and last day (Europe/Paris), included.
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The day whose hours are shown (`None`: the day of the period with the most failures).
    pub day: Option<NaiveDate>,
    /// Months without a login after which an account is listed as dormant.
    pub dormant_months: u32,
}

impl Request {
    /// The last seven days up to `today`.
    pub fn default_for(today: NaiveDate) -> Self {
        Self {
            from: today - chrono::Days::new(6),
            to: today,
            day: None,
            dormant_months: 3,
        }
    }

    /// From what a page or the API was given (dates `YYYY-MM-DD`, months a number), the
    /// missing ones from the default; the sentence says what is wrong.
    pub fn from_params(
        today: NaiveDate,
        from: Option<&str>,
        to: Option<&str>,
        day: Option<&str>,
        months: Option<&str>,
    ) -> Result<Self, String> {
        let date = |v: Option<&str>| -> Result<Option<NaiveDate>, String> {
            match v.map(str::trim).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| format!("Date « {v} » invalide.")),
            }
        };
        let mut request = Self::default_for(today);
        if let Some(f) = date(from)? {
            request.from = f;
        }
        if let Some(t) = date(to)? {
            request.to = t;
        }
        request.day = date(day)?;
        if let Some(m) = months.map(str::trim).filter(|m| !m.is_empty()) {
            request.dormant_months = m
                .parse()
                .map_err(|_| format!("Durée sans connexion « {m} » invalide."))?;
        }
        request.check().map_err(|e| match e {
            HabilitationError::Invalid(m) => m,
            other => other.to_string(),
        })?;
        Ok(request)
    }

    pub fn check(&self) -> HabResult<()> {
        let invalid = |m: &str| Err(HabilitationError::Invalid(m.into()));
        if self.from > self.to {
            return invalid("La date de début suit la date de fin : inversez-les.");
        }
        if (self.to - self.from).num_days() >= MAX_DAYS {
            return invalid(
                "La période couvre au plus six mois (la durée de conservation des traces).",
            );
        }
        if self.day.is_some_and(|d| d < self.from || d > self.to) {
            return invalid("Le jour détaillé heure par heure doit être dans la période.");
        }
        if !(1..=12).contains(&self.dormant_months) {
            return invalid("La durée sans connexion va de 1 à 12 mois.");
        }
        Ok(())
    }
}

/// Logins and failures in one bucket of time `[start_us, end_us)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub start_us: i64,
    pub end_us: i64,
    /// "01/12" for a day, "14 h" for an hour (Paris).
    pub label: String,
    pub logins: u64,
    pub failures: u64,
}

/// Failures of one action for one reason over the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonCount {
    pub action: String,
    pub reason: Option<String>,
    pub count: u64,
}

pub struct Locked {
    pub account: Account,
    /// Until when (seconds), and whether it is the lock (else the daily cap).
    pub until: i64,
    pub lock: bool,
}

pub struct Dormant {
    pub account: Account,
    /// The last login the kept traces know (µs).
    pub last_login_us: Option<i64>,
}

pub struct Dashboard {
    pub request: Request,
    pub from_us: i64,
    pub to_us: i64,
    pub days: Vec<Bucket>,
    /// The day detailed hour by hour, and its hours.
    pub day: NaiveDate,
    pub hours: Vec<Bucket>,
    pub reasons: Vec<ReasonCount>,
    pub locked: Vec<Locked>,
    pub dormant: Vec<Dormant>,
    pub dormant_total: usize,
    /// More accounts than were examined exist in reach.
    pub dormant_capped: bool,
    pub changes: Vec<TraceRecord>,
    pub searches: Vec<TraceRecord>,
    /// Alerts in reach not yet acknowledged.
    pub open_alerts: usize,
}

fn us(seconds: i64) -> i64 {
    seconds * 1_000_000
}

fn day_bounds(day: NaiveDate) -> (i64, i64) {
    (
        us(crate::clock::paris_start_of(day)),
        us(crate::clock::paris_end_of(day)),
    )
}

/// Sums the login counters into buckets (`auth.login` successes and failures).
fn fill(buckets: &mut [Bucket], rows: &[CountRow]) {
    for row in rows.iter().filter(|r| r.action == "auth.login") {
        let at = row.hour * HOUR_US;
        if let Some(b) = buckets
            .iter_mut()
            .find(|b| b.start_us <= at && at < b.end_us)
        {
            match row.outcome {
                Outcome::Success => b.logins += row.count,
                Outcome::Failure => b.failures += row.count,
            }
        }
    }
}

fn days_of(from: NaiveDate, to: NaiveDate) -> Vec<Bucket> {
    from.iter_days()
        .take_while(|d| *d <= to)
        .map(|d| {
            let (start_us, end_us) = day_bounds(d);
            Bucket {
                start_us,
                end_us,
                label: format!("{:02}/{:02}", d.day(), d.month()),
                logins: 0,
                failures: 0,
            }
        })
        .collect()
}

/// The hours of a Paris day (23 or 25 when the clocks change), labelled in Paris time.
fn hours_of(day: NaiveDate) -> Vec<Bucket> {
    let (start, end) = day_bounds(day);
    (0..)
        .map(|i| start + i * HOUR_US)
        .take_while(|h| *h < end)
        .map(|h| Bucket {
            start_us: h,
            end_us: h + HOUR_US,
            label: format!("{} h", &crate::clock::paris_seconds(h)[11..13]),
            logins: 0,
            failures: 0,
        })
        .collect()
}

/// Today in Paris, by the application's clock.
pub fn today(state: &AppState) -> NaiveDate {
    chrono::DateTime::from_timestamp(state.clock.now(), 0)
        .unwrap_or_default()
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive()
}

/// The dashboard of `request` for `actor` (a security officer or a national operator).
pub async fn build(
    state: &AppState,
    actor: &Actor,
    request: Request,
    origin: &Origin,
) -> HabResult<Dashboard> {
    request.check()?;
    let partners = reach(state, actor).await?;
    let cafs = if partners.is_some() {
        staff_reach(actor)
    } else {
        Vec::new()
    };
    let (from_us, _) = day_bounds(request.from);
    let (_, to_us) = day_bounds(request.to);
    state
        .tracer
        .record_durable(
            Event::new("trace.dashboard", Outcome::Success)
                .actor(TraceActor::of(&actor.account))
                .target(format!("from:{from_us},to:{to_us}"))
                .origin(origin),
        )
        .await?;
    let store = state.tracer.store();
    let counts = CountQuery {
        reach: partners.clone(),
        reach_cafs: cafs.clone(),
        from_us,
        to_us,
        action: None,
        outcome: None,
    };
    let rows = store.counts(&counts).await?;
    let mut days = days_of(request.from, request.to);
    fill(&mut days, &rows);
    let day = request.day.unwrap_or_else(|| {
        let busiest = days
            .iter()
            .enumerate()
            .max_by_key(|(i, b)| (b.failures, *i))
            .filter(|(_, b)| b.failures > 0)
            .map(|(i, _)| i);
        request.from + chrono::Days::new(busiest.unwrap_or(days.len() - 1) as u64)
    });
    let mut hours = hours_of(day);
    fill(&mut hours, &rows);
    let mut by_reason: BTreeMap<(String, Option<String>), u64> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.outcome == Outcome::Failure) {
        *by_reason
            .entry((row.action.clone(), row.reason.clone()))
            .or_default() += row.count;
    }
    let mut reasons: Vec<ReasonCount> = by_reason
        .into_iter()
        .map(|((action, reason), count)| ReasonCount {
            action,
            reason,
            count,
        })
        .collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.count));
    let query = |action: &str, limit: u32| TraceQuery {
        reach: partners.clone(),
        reach_cafs: cafs.clone(),
        action: Some(action.to_owned()),
        limit,
        ..Default::default()
    };
    let changes = store.search(&query("admin.change", 10)).await?;
    let me = actor.account.id.to_string();
    let mut searches: Vec<TraceRecord> = Vec::new();
    for action in ["trace.query", "trace.export"] {
        searches.extend(
            store
                .search(&query(action, 200))
                .await?
                .into_iter()
                .filter(|r| r.trace.actor_account.as_deref() != Some(me.as_str())),
        );
    }
    searches.sort_by_key(|r| std::cmp::Reverse((r.trace.at_us, r.seq)));
    searches.truncate(10);
    let locked = locked_now(state, &partners, &cafs).await?;
    let (dormant, dormant_total, dormant_capped) =
        dormant_accounts(state, actor, request.dormant_months).await?;
    let open_alerts = super::alerts::list(state, actor)
        .await?
        .iter()
        .filter(|a| a.acknowledged_at.is_none())
        .count();
    Ok(Dashboard {
        open_alerts,
        request,
        from_us,
        to_us,
        days,
        day,
        hours,
        reasons,
        locked,
        dormant,
        dormant_total,
        dormant_capped,
        changes,
        searches,
    })
}

/// Accounts whose identifier is locked (or at its daily cap) now: those that failed to log in
/// during the last 24 hours, asked to the throttle counters one by one.
async fn locked_now(
    state: &AppState,
    partners: &Option<Vec<String>>,
    cafs: &[String],
) -> HabResult<Vec<Locked>> {
    let now = state.clock.now();
    let failures = state
        .tracer
        .store()
        .search(&TraceQuery {
            reach: partners.clone(),
            reach_cafs: cafs.to_vec(),
            action: Some("auth.login".into()),
            outcome: Some(Outcome::Failure),
            from_us: Some(us(now - crate::store::FAILURE_WINDOW_SECONDS)),
            limit: 10_000,
            ..Default::default()
        })
        .await?;
    let mut seen = HashSet::new();
    let mut locked = Vec::new();
    let rules = &state.settings.throttling;
    for id in failures
        .iter()
        .filter_map(|r| r.trace.actor_account.as_deref())
    {
        if !seen.insert(id.to_owned()) {
            continue;
        }
        // Traces hold ids the store gave.
        let account_id = crate::types::AccountId::from_stored(id.to_owned());
        let Some(account) = state.stores.accounts.get_account(&account_id).await? else {
            continue;
        };
        let key = throttle::identifier_key(account.profile.email.as_str());
        let attempts = state.stores.throttle.attempts(&key, now).await?;
        if let Gate::Closed {
            until,
            locked: lock,
        } = throttle::gate(&attempts, now, rules)
            && (lock || attempts.recent.len() as u32 >= rules.max_failures_per_day)
        {
            locked.push(Locked {
                account,
                until,
                lock,
            });
        }
    }
    locked.sort_by_key(|l| std::cmp::Reverse(l.until));
    Ok(locked)
}

/// Active accounts in reach created more than `months` ago without a login since: candidates
/// for closure. Returns those listed, how many there are, and whether the scan was capped.
async fn dormant_accounts(
    state: &AppState,
    actor: &Actor,
    months: u32,
) -> HabResult<(Vec<Dormant>, usize, bool)> {
    let now = state.clock.now();
    let cutoff = now - i64::from(months) * 30 * 86_400;
    let mut candidates: Vec<Account> = Vec::new();
    let mut params = ListParams {
        sort: Some("created".into()),
        state: Some("active".into()),
        limit: Some(200),
        ..Default::default()
    };
    let mut capped = false;
    'pages: loop {
        let page = directory::people(state, actor, &params).await?;
        for hit in page.items {
            if hit.account.created_at > cutoff {
                break 'pages;
            }
            candidates.push(hit.account);
        }
        if candidates.len() >= DORMANT_SCAN {
            capped = page.next.is_some();
            break;
        }
        match page.next {
            Some(next) => params.after = Some(directory::encode_cursor(&next)),
            None => break,
        }
    }
    for caf in staff_reach(actor) {
        let caf =
            crate::types::CafCode::parse(&caf).map_err(|e| HabilitationError::Invalid(e.0))?;
        candidates.extend(
            state
                .stores
                .accounts
                .staff_of_caf(&caf)
                .await?
                .into_iter()
                .filter(|a| a.is_usable() && a.created_at <= cutoff),
        );
    }
    let ids: Vec<String> = candidates.iter().map(|a| a.id.to_string()).collect();
    let last = state.tracer.store().last_logins(&ids).await?;
    let mut dormant: Vec<Dormant> = candidates
        .into_iter()
        .filter_map(|account| {
            let last_login_us = last.get(&account.id.to_string()).copied();
            (last_login_us.is_none_or(|at| at < us(cutoff))).then_some(Dormant {
                account,
                last_login_us,
            })
        })
        .collect();
    // Never logged in first, then the longest silent.
    dormant.sort_by_key(|d| d.last_login_us.unwrap_or(i64::MIN));
    let total = dormant.len();
    dormant.truncate(DORMANT_SHOWN);
    Ok((dormant, total, capped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paris_day_has_the_hours_of_its_clocks() {
        let normal = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let hours = hours_of(normal);
        assert_eq!(hours.len(), 24);
        assert_eq!(hours[0].label, "00 h");
        assert_eq!(hours[23].label, "23 h");
        let spring = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        assert_eq!(hours_of(spring).len(), 23);
        let autumn = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
        assert_eq!(hours_of(autumn).len(), 25);
    }

    #[test]
    fn counters_land_in_the_bucket_of_their_hour() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let mut days = days_of(day, day + chrono::Days::new(1));
        // 23:30 UTC on the 1st is 00:30 in Paris on the 2nd.
        let hour = (days[1].start_us) / HOUR_US;
        let row = |outcome, count| CountRow {
            hour,
            action: "auth.login".into(),
            outcome,
            reason: None,
            count,
        };
        fill(
            &mut days,
            &[row(Outcome::Success, 3), row(Outcome::Failure, 2)],
        );
        assert_eq!((days[0].logins, days[0].failures), (0, 0));
        assert_eq!((days[1].logins, days[1].failures), (3, 2));
        assert_eq!(days[1].label, "02/12");
    }

    #[test]
    fn a_period_is_checked() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let mut r = Request::default_for(today);
        assert!(r.check().is_ok());
        r.from = today + chrono::Days::new(1);
        assert!(r.check().is_err());
        r = Request::default_for(today);
        r.from = today - chrono::Days::new(200);
        assert!(r.check().is_err());
        r = Request::default_for(today);
        r.day = Some(today + chrono::Days::new(1));
        assert!(r.check().is_err());
    }
}
