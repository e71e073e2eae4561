//! Alert rules over the traces as they are written (`Tracer::subscribe`), configured in
//! `[alerts]`: failures from one address or on one account above a threshold in a window
//! (counted by the shared throttle counters, so that replicas add up), a login after a lock,
//! an administrative role given, a large export of traces (`large_export`, called by the
//! export itself), an account used from several distant networks in a short time. An alert is
//! stored once per burst (`SecurityStore::raise_alert`); a new one is traced and mailed to the
//! security officers in reach; an officer acknowledges it in the console (traced).

use super::{Event, OWN_STREAM, TraceActor};
use crate::accounts::throttle;
use crate::habilitations::{Actor, HabResult, HabilitationError, Record};
use crate::state::AppState;
use crate::store::security::{Alert, NewAlert, Raised, SecurityReach};
use crate::store::{Account, AdminRole, NewTrace, Outcome, TraceQuery};
use crate::types::{AccountId, CafCode, PartnerId};
use serde_json::json;
use std::collections::BTreeSet;

/// The French name of a rule.
pub fn rule_label(rule: &str) -> &'static str {
    match rule {
        "failures_per_address" => "Échecs répétés depuis une même adresse",
        "failures_per_account" => "Échecs répétés sur un même compte",
        "login_after_lock" => "Connexion réussie après un verrouillage",
        "admin_role_granted" => "Rôle d'administration attribué",
        "large_export" => "Export volumineux de traces",
        "distant_addresses" => "Compte utilisé depuis des réseaux éloignés",
        _ => "Alerte",
    }
}

/// Starts the task that applies the rules to every trace this process writes.
pub fn spawn(state: AppState) {
    if !state.settings.alerts.enabled {
        return;
    }
    let mut written = state.tracer.subscribe();
    tokio::spawn(async move {
        loop {
            match written.recv().await {
                Ok(batch) => {
                    for trace in batch.iter().filter(|t| t.stream == OWN_STREAM) {
                        if let Err(e) = apply_rules(&state, trace).await {
                            tracing::error!(error = %e, action = %trace.action, "alert rules could not be applied");
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "alert rules fell behind the traces; some batches were not examined"
                    );
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

fn us(seconds: i64) -> i64 {
    seconds * 1_000_000
}

/// How many of these failure times fall within the last `window` seconds.
fn within(times: &[i64], now: i64, window: i64) -> usize {
    times.iter().filter(|t| **t > now - window).count()
}

/// The network an address belongs to, for "distant": IPv4 /16, IPv6 /48.
fn network(ip: &str) -> Option<String> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(format!("{}.{}.0.0/16", o[0], o[1]))
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]))
        }
    }
}

fn search(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("search", "1");
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    q.finish()
}

fn rfc3339(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

async fn account_of(state: &AppState, id: &str) -> HabResult<Option<Account>> {
    Ok(state
        .stores
        .accounts
        .get_account(&AccountId::from_stored(id.to_owned()))
        .await?)
}

fn scope_of(trace: &NewTrace) -> (Option<PartnerId>, Option<CafCode>) {
    let partner = trace
        .partner
        .as_deref()
        .and_then(|p| PartnerId::parse(p).ok());
    let caf = match partner {
        Some(_) => None,
        None => trace
            .actor_caf
            .as_deref()
            .and_then(|c| CafCode::parse(c).ok()),
    };
    (partner, caf)
}

fn who(account: &Account) -> String {
    format!(
        "{} {} ({})",
        account.profile.given_name, account.profile.family_name, account.profile.email
    )
}

async fn apply_rules(state: &AppState, trace: &NewTrace) -> HabResult<()> {
    let rules = &state.settings.alerts;
    let now = state.clock.now();
    let window = rules.failure_window_seconds as i64;
    let (partner, caf) = scope_of(trace);
    let since = rfc3339(now - window);
    match (trace.action.as_str(), trace.outcome) {
        ("auth.login", Outcome::Failure) => {
            if let Some(ip) = &trace.ip
                && rules.failures_per_address > 0
                && let Ok(addr) = ip.parse()
            {
                let attempts = state
                    .stores
                    .throttle
                    .attempts(&throttle::ip_key(addr), now)
                    .await?;
                let n = within(&attempts.recent, now, window);
                if n >= rules.failures_per_address as usize {
                    raise(state, NewAlert {
                        rule: "failures_per_address".into(),
                        subject: ip.clone(),
                        partner: partner.clone(),
                        caf: caf.clone(),
                        at: now,
                        evidence: json!({
                            "summary": format!("{n} échecs de connexion depuis l'adresse {ip} en {} minutes.", window / 60),
                            "search": search(&[("ip", ip), ("action", "auth.login"), ("outcome", "failure"), ("from", &since)]),
                        }),
                    }, window).await?;
                }
            }
            if let Some(id) = &trace.actor_account
                && rules.failures_per_account > 0
                && let Some(account) = account_of(state, id).await?
            {
                let key = throttle::identifier_key(account.profile.email.as_str());
                let attempts = state.stores.throttle.attempts(&key, now).await?;
                let n = within(&attempts.recent, now, window);
                if n >= rules.failures_per_account as usize {
                    raise(state, NewAlert {
                        rule: "failures_per_account".into(),
                        subject: id.clone(),
                        partner,
                        caf,
                        at: now,
                        evidence: json!({
                            "summary": format!("{n} échecs de connexion sur le compte de {} en {} minutes.", who(&account), window / 60),
                            "search": search(&[("person", account.profile.email.as_str()), ("action", "auth.login"), ("outcome", "failure"), ("from", &since)]),
                        }),
                    }, window).await?;
                }
            }
        }
        ("auth.login", Outcome::Success) => {
            let Some(id) = &trace.actor_account else {
                return Ok(());
            };
            let Some(account) = account_of(state, id).await? else {
                return Ok(());
            };
            if rules.login_after_lock {
                let key = throttle::identifier_key(account.profile.email.as_str());
                let attempts = state.stores.throttle.attempts(&key, now).await?;
                let n = within(&attempts.recent, now, window);
                if n >= state.settings.throttling.lock_after as usize {
                    raise(state, NewAlert {
                        rule: "login_after_lock".into(),
                        subject: id.clone(),
                        partner: partner.clone(),
                        caf: caf.clone(),
                        at: now,
                        evidence: json!({
                            "summary": format!("Connexion réussie sur le compte de {} après {n} échecs en {} minutes, qui l'avaient verrouillé{}.", who(&account), window / 60, trace.ip.as_deref().map(|ip| format!(" (depuis {ip})")).unwrap_or_default()),
                            "search": search(&[("person", account.profile.email.as_str()), ("action", "auth.login"), ("from", &since)]),
                        }),
                    }, window).await?;
                }
            }
            if rules.distant_networks > 1 {
                let span = rules.distant_window_seconds as i64;
                let logins = state
                    .tracer
                    .store()
                    .search(&TraceQuery {
                        account: Some(id.clone()),
                        action: Some("auth.login".into()),
                        outcome: Some(Outcome::Success),
                        from_us: Some(us(now - span)),
                        limit: 200,
                        ..Default::default()
                    })
                    .await?;
                let ips: BTreeSet<&str> = logins
                    .iter()
                    .filter_map(|r| r.trace.ip.as_deref())
                    .collect();
                let networks: BTreeSet<String> = ips.iter().filter_map(|ip| network(ip)).collect();
                if networks.len() >= rules.distant_networks as usize {
                    let list = ips.iter().copied().collect::<Vec<_>>().join(", ");
                    raise(state, NewAlert {
                        rule: "distant_addresses".into(),
                        subject: id.clone(),
                        partner,
                        caf,
                        at: now,
                        evidence: json!({
                            "summary": format!("Le compte de {} s'est connecté depuis {} réseaux différents en {} minutes : {list}.", who(&account), networks.len(), span / 60),
                            "search": search(&[("person", account.profile.email.as_str()), ("action", "auth.login"), ("outcome", "success"), ("from", &rfc3339(now - span))]),
                        }),
                    }, span).await?;
                }
            }
        }
        // Provisioning (no person as author) applies a reviewed file: not an alert.
        ("admin.change", Outcome::Success)
            if rules.admin_role_granted && trace.actor_account.is_some() =>
        {
            let target = trace.target.as_deref().unwrap_or("");
            let Some((code, record)) = target.split_once(' ') else {
                return Ok(());
            };
            if !matches!(code, "administrators.appoint" | "delegated_manager.name") {
                return Ok(());
            }
            let Some(holder) = record.strip_prefix("account:") else {
                return Ok(());
            };
            let named = match account_of(state, holder).await? {
                Some(a) => who(&a),
                None => holder.to_owned(),
            };
            let by = match trace.actor_account.as_deref() {
                Some(a) => account_of(state, a)
                    .await?
                    .map(|a| who(&a))
                    .unwrap_or_else(|| a.to_owned()),
                None => String::new(),
            };
            raise(state, NewAlert {
                rule: "admin_role_granted".into(),
                subject: format!("{code} {holder} {}", trace.id),
                partner,
                caf,
                at: now,
                evidence: json!({
                    "summary": format!("{} : {named}, par {by}.", crate::labels::action(code)),
                    "search": search(&[("action", "admin.change"), ("from", &rfc3339(now - 60))]),
                }),
            }, 0).await?;
        }
        _ => {}
    }
    Ok(())
}

/// A large export of traces, checked by the export itself once it knows its size.
pub async fn large_export(state: &AppState, actor: &Actor, rows: usize) -> HabResult<()> {
    let rules = &state.settings.alerts;
    if !rules.enabled || rules.large_export_rows == 0 || rows < rules.large_export_rows as usize {
        return Ok(());
    }
    let now = state.clock.now();
    let profile = &actor.account.profile;
    raise(
        state,
        NewAlert {
            rule: "large_export".into(),
            subject: actor.account.id.to_string(),
            partner: profile.partner.clone(),
            caf: profile.partner.is_none().then(|| profile.caf.clone()).flatten(),
            at: now,
            evidence: json!({
                "summary": format!("{} a exporté {rows} traces.", who(&actor.account)),
                "search": search(&[("person", profile.email.as_str()), ("action", "trace.export"), ("from", &rfc3339(now - 3600))]),
            }),
        },
        3600,
    )
    .await
}

/// Stores the alert; a new one is traced and mailed to the security officers in reach.
async fn raise(state: &AppState, alert: NewAlert, window: i64) -> HabResult<()> {
    let Raised::New(stored) = state.stores.security.raise_alert(&alert, window).await? else {
        return Ok(());
    };
    let mut event = Event::new("alert.raise", Outcome::Success)
        .target(format!("alert:{}", stored.id))
        .reason(stored.rule.clone())
        .partner(stored.partner.as_ref().map(|p| p.to_string()));
    if let Some(c) = &stored.caf {
        event = event.actor(TraceActor {
            caf: Some(c.to_string()),
            ..TraceActor::default()
        });
    }
    state.tracer.record(event).await;
    let summary = stored.evidence["summary"].as_str().unwrap_or_default();
    let link = state
        .settings
        .endpoint(&format!("/console/alertes#alerte-{}", stored.id));
    for officer in officers_of(state, &stored).await? {
        let mail = crate::mail::templates::alert(
            officer.profile.email.as_str(),
            &format!(
                "{} {}",
                officer.profile.given_name, officer.profile.family_name
            ),
            rule_label(&stored.rule),
            summary,
            &link,
        );
        if let Err(e) = state.mailer.send(mail).await {
            tracing::error!(error = %e, "an alert could not be mailed");
        }
    }
    Ok(())
}

fn is_officer(a: &Account) -> bool {
    a.is_usable() && a.profile.admin_roles.contains(&AdminRole::SecurityOfficer)
}

/// The security officers who see an alert: the partner's and its Caf's, a Caf's for its own
/// staff, else the national operators.
async fn officers_of(state: &AppState, alert: &Alert) -> HabResult<Vec<Account>> {
    let accounts = &state.stores.accounts;
    let mut officers = Vec::new();
    let caf = match &alert.partner {
        Some(p) => {
            officers.extend(
                accounts
                    .accounts_of_partner(p)
                    .await?
                    .into_iter()
                    .filter(is_officer),
            );
            state
                .stores
                .organisations
                .get_partner(p)
                .await?
                .map(|p| p.caf)
        }
        None => alert.caf.clone(),
    };
    match caf {
        Some(c) => officers.extend(
            accounts
                .staff_of_caf(&c)
                .await?
                .into_iter()
                .filter(is_officer),
        ),
        None => officers.extend(
            accounts
                .accounts_with_role(AdminRole::NationalOperator)
                .await?
                .into_iter()
                .filter(Account::is_usable),
        ),
    }
    Ok(officers)
}

fn in_reach(reach: &SecurityReach, alert: &Alert) -> bool {
    reach.everything
        || match (&alert.partner, &alert.caf) {
            (Some(p), _) => reach.partners.iter().any(|r| r == p.as_str()),
            (None, Some(c)) => reach.cafs.iter().any(|r| r == c.as_str()),
            (None, None) => false,
        }
}

/// The alerts an officer sees, newest first.
pub async fn list(state: &AppState, actor: &Actor) -> HabResult<Vec<Alert>> {
    let reach = super::reach::security_reach(state, actor).await?;
    Ok(state.stores.security.alerts(&reach, 200).await?)
}

/// An officer acknowledges an alert in their reach, saying what was done (traced).
pub async fn acknowledge(
    state: &AppState,
    actor: &Actor,
    id: &str,
    comment: &str,
    origin: &super::Origin,
) -> HabResult<Alert> {
    let reach = super::reach::security_reach(state, actor).await?;
    let alert = state
        .stores
        .security
        .get_alert(id)
        .await?
        .filter(|a| in_reach(&reach, a))
        .ok_or(HabilitationError::NotFound(Record::Alert))?;
    let comment = comment.trim();
    if comment.is_empty() {
        return Err(HabilitationError::Invalid(
            "Dites ce qui a été vérifié ou fait : le commentaire accompagne l'acquittement.".into(),
        ));
    }
    if comment.chars().count() > 1000 {
        return Err(HabilitationError::Invalid(
            "Le commentaire compte au plus 1 000 caractères.".into(),
        ));
    }
    let now = state.clock.now();
    if !state
        .stores
        .security
        .acknowledge_alert(id, &actor.account.id, now, comment)
        .await?
    {
        return Err(HabilitationError::Conflict(
            "Cette alerte a déjà été acquittée.".into(),
        ));
    }
    let event = Event::new("alert.acknowledge", Outcome::Success)
        .actor(TraceActor::of(&actor.account))
        .target(format!("alert:{id}"))
        .reason(alert.rule.clone())
        .partner(alert.partner.as_ref().map(|p| p.to_string()))
        .origin(origin);
    state.tracer.record_durable(event).await?;
    Ok(state.stores.security.get_alert(id).await?.unwrap_or(alert))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distant_means_another_network() {
        assert_eq!(network("192.0.2.10"), network("192.0.7.200"));
        assert_ne!(network("192.0.2.10"), network("198.51.100.1"));
        assert_eq!(network("2001:db8:1::1"), network("2001:db8:1:ffff::2"));
        assert_ne!(network("2001:db8:1::1"), network("2001:db8:2::1"));
        assert_eq!(network("not an address"), None);
    }

    #[test]
    fn only_failures_in_the_window_count() {
        assert_eq!(within(&[100, 950, 990], 1000, 100), 2);
        assert_eq!(within(&[], 1000, 100), 0);
    }
}
