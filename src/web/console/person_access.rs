//! The person page's access section: last login, recent failures, lock (and unlock), open
//! sessions (and their end), second factor (and its reset by the Caf), pending activation (and
//! a new link) — what an administrator looks at first when someone cannot log in.

use super::forms::{account_id, back_to_person as back};
use super::{ConsoleUser, confirm_page, hidden_csrf};
use crate::habilitations::manage;
use crate::state::AppState;
use crate::web::error::PageResult;
use crate::web::extract::ConsoleForm;
use axum::extract::{Path, State};
use serde::Deserialize;

/// What an administrator looks at first when someone cannot log in.
pub(super) struct AccessFacts {
    last_login: Option<i64>,
    failures_24h: usize,
    last_failure: Option<i64>,
    locked_until: Option<i64>,
    /// Open sessions, with when each closes if nothing more happens.
    sessions: Vec<(crate::store::Session, i64)>,
    pub(super) totp: bool,
    recovery_codes: u32,
    /// The passkeys' names.
    pub(super) passkeys: Vec<String>,
    pending: bool,
}

pub(super) async fn access_facts(
    state: &AppState,
    account: &crate::store::Account,
) -> crate::store::StoreResult<AccessFacts> {
    use crate::accounts::throttle::{self, Gate};
    let now = state.clock.now();
    let last_login = state
        .tracer
        .store()
        .search(&crate::store::TraceQuery {
            account: Some(account.id.to_string()),
            action: Some("auth.login".into()),
            outcome: Some(crate::store::Outcome::Success),
            limit: 1,
            ..Default::default()
        })
        .await?
        .first()
        .map(|r| r.trace.at_us / 1_000_000);
    let key = throttle::identifier_key(account.profile.email.as_str());
    let attempts = state.stores.throttle.attempts(&key, now).await?;
    let locked_until = match throttle::gate(&attempts, now, &state.settings.throttling) {
        Gate::Closed { until, .. } => Some(until),
        Gate::Open { .. } => None,
    };
    let sessions: Vec<_> = state
        .stores
        .sessions
        .sessions_of_account(&account.id)
        .await?
        .into_iter()
        .map(|s| {
            let ends = s.ends_at(state.settings.session_idle);
            (s, ends)
        })
        .filter(|(_, ends)| *ends > now)
        .collect();
    let totp = crate::accounts::totp::enrolled(state.stores.factors.as_ref(), account).await?;
    let recovery_codes = if totp {
        state
            .stores
            .factors
            .remaining_recovery_codes(&account.id)
            .await?
    } else {
        0
    };
    let passkeys = state
        .stores
        .passkeys
        .passkeys_of(&account.id)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    Ok(AccessFacts {
        passkeys,
        last_login,
        failures_24h: attempts.recent.len(),
        last_failure: (attempts.last_failure_at > 0).then_some(attempts.last_failure_at),
        locked_until,
        sessions,
        totp,
        recovery_codes,
        pending: account.status == crate::store::AccountStatus::Pending,
    })
}

pub(super) fn access_section(
    user: &ConsoleUser,
    here: &str,
    a: &AccessFacts,
    may_act: bool,
) -> maud::Markup {
    use super::when;
    maud::html! {
        dl class="facts" {
            dt { "Dernière connexion réussie" }
            dd { @match a.last_login { Some(t) => (when(t)), None => "aucune" } }
            dt { "Échecs de connexion (24 heures)" }
            dd {
                (a.failures_24h)
                @if let Some(t) = a.last_failure { ", le dernier le " (when(t)) }
            }
            dt { "Verrouillage" }
            dd {
                @match a.locked_until {
                    Some(t) => { strong { "verrouillé" } " jusqu'au " (when(t)) " après des échecs répétés" }
                    None => "non verrouillé",
                }
            }
            dt { "Double authentification" }
            dd {
                @if a.totp { "application d'authentification enrôlée ; " (a.recovery_codes) " code(s) de secours restant(s)" }
                @if a.totp && !a.passkeys.is_empty() { " ; " }
                @if !a.passkeys.is_empty() {
                    (a.passkeys.len()) " clé(s) d'accès : " (a.passkeys.join(", "))
                }
                @if !a.totp && a.passkeys.is_empty() { "aucun second facteur" }
            }
            dt { "Sessions ouvertes" }
            dd {
                @if a.sessions.is_empty() { "aucune" }
                @else {
                    ul {
                        @for (s, ends) in &a.sessions {
                            li {
                                @let recent = |t: i64| crate::labels::paris_recent(t, s.auth_time);
                                "ouverte le " (crate::labels::paris(s.auth_time))
                                " ; dernière activité : " (recent(s.last_active()))
                                " ; fin sans nouvelle activité : " (recent(*ends))
                                " (" (crate::labels::ZONE) ")"
                                @if s.acr == crate::flow::ACR_MFA { " (avec second facteur)" }
                            }
                        }
                    }
                }
            }
            @if a.pending {
                dt { "Activation" }
                dd { "en attente : la personne n'a pas encore choisi son mot de passe" }
            }
        }
        @if may_act && (a.locked_until.is_some() || !a.sessions.is_empty() || a.pending) {
            form method="post" action={ (here) "/acces" } class="inline" {
                (hidden_csrf(user))
                @if a.locked_until.is_some() {
                    button type="submit" name="action" value="unlock" { "Déverrouiller le compte" }
                }
                @if !a.sessions.is_empty() {
                    button type="submit" name="action" value="end_sessions" class="secondary" { "Mettre fin aux sessions" }
                }
                @if a.pending {
                    button type="submit" name="action" value="resend_activation" class="secondary" { "Renvoyer l'activation" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum AccessAction {
    Unlock,
    EndSessions,
    ResendActivation,
}

#[derive(Deserialize)]
pub(super) struct AccessForm {
    action: AccessAction,
}

pub(super) async fn access_action(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { user, form, .. }: ConsoleForm<AccessForm>,
) -> PageResult {
    let id = account_id(&id);
    let done = match form.action {
        AccessAction::Unlock => {
            manage::unlock_person(&state, &user.actor, &id).await?;
            "deverrouillage"
        }
        AccessAction::EndSessions => {
            manage::end_person_sessions(&state, &user.actor, &id).await?;
            "sessions"
        }
        AccessAction::ResendActivation => {
            manage::resend_activation(&state, &user.actor, &id).await?;
            "activation"
        }
    };
    back(&id, done)
}

pub(super) async fn reset_second_factor(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: ConsoleForm<super::ReasonForm>,
) -> PageResult {
    let id = account_id(&id);
    if posted.asks_confirmation(true) {
        let (account, _) = manage::person(&state, &posted.user.actor, &id).await?;
        return confirm_page(
            &posted.user,
            "Réinitialiser les seconds facteurs",
            maud::html! {
                "Vous allez retirer les seconds facteurs de " (account.profile.given_name) " " (account.profile.family_name)
                " (son application d'authentification et ses clés d'accès) : ses sessions prennent fin, ses codes de secours ne valent plus, et la personne enrôlera un nouveau second facteur à sa prochaine connexion."
            },
            &format!("/console/personnes/{id}/second-facteur"),
            &posted.raw,
            &format!("/console/personnes/{id}"),
        );
    }
    let ConsoleForm { user, form, .. } = posted;
    manage::reset_second_factor(&state, &user.actor, &id, form.reason.as_deref()).await?;
    back(&id, "facteur")
}
