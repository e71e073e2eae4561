//! `passerelle api-token`: personal API tokens, created and revoked by an operator.

use super::*;

#[derive(Subcommand)]
pub(super) enum ApiTokenCommand {
    /// Create a token for an administrator and print it once
    Create {
        /// Email of the administrator the token acts for
        email: String,
        /// What the token is for (e.g. the script's name)
        #[arg(long)]
        name: String,
        /// Validity in days (at most 90)
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// List an administrator's tokens
    List { email: String },
    /// Revoke one token
    Revoke { email: String, id: String },
}

pub(super) async fn api_token(
    state: crate::state::AppState,
    command: ApiTokenCommand,
) -> Result<(), Failure> {
    use crate::accounts::api_token::{self, ApiTokenError};
    let when = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    match command {
        ApiTokenCommand::Create { email, name, days } => {
            let account = account_named(&state, &email).await?;
            let (secret, token) = api_token::create(&state, &account, &name, days)
                .await
                .map_err(|e| match e {
                    ApiTokenError::Invalid(m) => usage(m),
                    other => runtime(other),
                })?;
            eprintln!(
                "token {} for {} valid until {}; it is shown once:",
                token.id,
                account.profile.email,
                when(token.expires_at)
            );
            println!("{secret}");
        }
        ApiTokenCommand::List { email } => {
            let account = account_named(&state, &email).await?;
            let now = crate::store::now();
            for t in state
                .stores
                .api_tokens
                .api_tokens_of(&account.id)
                .await
                .map_err(runtime)?
            {
                let status = match (t.revoked_at, t.is_live(now)) {
                    (Some(_), _) => "revoked",
                    (None, true) => "live",
                    (None, false) => "expired",
                };
                println!(
                    "{}  {:<8} until {}  last used {}  {}",
                    t.id,
                    status,
                    when(t.expires_at),
                    t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                    t.name
                );
            }
        }
        ApiTokenCommand::Revoke { email, id } => {
            let account = account_named(&state, &email).await?;
            if !state
                .stores
                .api_tokens
                .revoke_api_token(&account.id, &id, crate::store::now())
                .await
                .map_err(runtime)?
            {
                return Err(usage(format!(
                    "no live token {id} for {}",
                    account.profile.email
                )));
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}
