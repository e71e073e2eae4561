//! `passerelle keys`: signing keys, and the key-encryption key of the secrets kept at rest.

use super::*;
use crate::oidc::keys::KeyRing;
use crate::store::sealed;

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// Generate new signing keys; previous ones stay published until their tokens expire
    Rotate,
    /// List signing keys
    List,
    /// Print a new key-encryption key (base64) for secrets.kek_file or PASSERELLE__SECRETS__KEK
    NewKek,
    /// Rewrap every secret kept at rest under the current key-encryption key (those under
    /// secrets.other_kek_files included) while the servers keep running
    Rewrap,
}

pub(super) async fn run(config: &Config, command: KeysCommand) -> Result<(), Failure> {
    let failed = |e: anyhow::Error| runtime(format!("{e:#}"));
    match command {
        KeysCommand::NewKek => println!("{}", sealed::kek::new_kek()),
        KeysCommand::Rewrap => {
            let durable = crate::app::open_durable(config).await.map_err(failed)?;
            let ring = sealed::kek::keyring(config).map_err(failed)?;
            let done = sealed::seal_at_rest(durable.as_ref(), &ring)
                .await
                .map_err(failed)?;
            println!(
                "{} secrets rewrapped and {} sealed from clear under key-encryption key {}",
                done.rewrapped,
                done.sealed,
                ring.current_id()
            );
            let left = sealed::not_under_current(durable.as_ref(), &ring)
                .await
                .map_err(failed)?;
            if left > 0 {
                return Err(runtime(format!(
                    "{left} secrets are still sealed under another key: a server still seals with it; run again once every server has the new key"
                )));
            }
            if !ring.other_ids().is_empty() {
                println!(
                    "nothing is sealed under {} any more: it can leave secrets.other_kek_files",
                    ring.other_ids().join(", ")
                );
            }
        }
        KeysCommand::Rotate => {
            let stores = durable_stores(config).await?;
            let longest = config.tokens.id_token_lifetime_seconds;
            KeyRing::ensure_keys(stores.keys.as_ref(), now())
                .await
                .map_err(runtime)?;
            let kids = KeyRing::rotate(stores.keys.as_ref(), now(), longest)
                .await
                .map_err(runtime)?;
            println!("new signing keys: {}", kids.join(", "));
            println!(
                "previous keys stay published for {} s; running servers switch within {} s",
                longest as i64 + crate::oidc::keys::RETIREMENT_GRACE_SECONDS,
                config.tokens.key_reload_seconds
            );
        }
        KeysCommand::List => {
            let stores = durable_stores(config).await?;
            for k in stores.keys.list_signing_keys().await.map_err(runtime)? {
                let status = match k.retired_at {
                    None => "active".to_owned(),
                    Some(at) => format!("retired at {}", fmt_time(at)),
                };
                println!(
                    "{}\t{}\tcreated {}\t{}",
                    k.kid,
                    k.alg.as_str(),
                    fmt_time(k.created_at),
                    status
                );
            }
        }
    }
    Ok(())
}
