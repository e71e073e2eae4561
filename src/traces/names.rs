//! What trace rows refer to, by name: the people (name and email), partners and services a
//! page or an export of traces mentions, each looked up once. Traces themselves keep ids only.

use crate::state::AppState;
use crate::store::{StoreResult, TraceRecord};
use crate::types::AccountId;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Names {
    /// Account id → (« Prénom Nom », email); absent for unknown or erased accounts.
    people: HashMap<String, (String, String)>,
    partners: HashMap<String, String>,
    services: HashMap<String, String>,
}

impl Names {
    pub async fn of(state: &AppState, records: &[TraceRecord]) -> StoreResult<Self> {
        let mut names = Names {
            partners: state
                .stores
                .organisations
                .list_partners(None)
                .await?
                .into_iter()
                .map(|p| (p.id.to_string(), p.name))
                .collect(),
            services: state
                .stores
                .services
                .list_services()
                .await?
                .into_iter()
                .map(|s| (s.client_id.to_string(), s.name))
                .collect(),
            people: HashMap::new(),
        };
        let mut asked = std::collections::HashSet::new();
        // The people a search of the traces was about are named too (`person:…` in its target).
        let searched = records
            .iter()
            .filter(|r| r.trace.action.starts_with("trace."))
            .filter_map(|r| r.trace.target.as_deref())
            .flat_map(|t| t.split(','))
            .filter_map(|part| part.strip_prefix("person:"));
        for id in records
            .iter()
            .filter_map(|r| r.trace.actor_account.as_deref())
            .chain(searched)
        {
            if !asked.insert(id.to_owned()) {
                continue;
            }
            if let Some(a) = state
                .stores
                .accounts
                .get_account(&AccountId::from_stored(id.to_owned()))
                .await?
                .filter(|a| !a.profile.family_name.is_empty())
            {
                names.people.insert(
                    id.to_owned(),
                    (
                        format!("{} {}", a.profile.given_name, a.profile.family_name),
                        a.profile.email.to_string(),
                    ),
                );
            }
        }
        Ok(names)
    }

    pub fn person(&self, id: &str) -> Option<(&str, &str)> {
        self.people
            .get(id)
            .map(|(name, email)| (name.as_str(), email.as_str()))
    }

    pub fn partner(&self, id: &str) -> Option<&str> {
        self.partners.get(id).map(String::as_str)
    }

    pub fn service(&self, id: &str) -> Option<&str> {
        self.services.get(id).map(String::as_str)
    }
}
