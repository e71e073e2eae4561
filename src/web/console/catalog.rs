//! Services and their roles by name, for every console page: a service is shown by its name
//! and a role by its label with its code beside it ("Action sociale (T1)").

use crate::store::Service;
use std::collections::HashMap;

pub(super) struct Catalog<'a> {
    services: HashMap<&'a str, &'a Service>,
}

impl<'a> Catalog<'a> {
    pub(super) fn new(services: &'a [Service]) -> Self {
        Self {
            services: services.iter().map(|s| (s.client_id.as_str(), s)).collect(),
        }
    }

    /// The service's name (its client id when it is gone).
    pub(super) fn service(&self, client_id: &str) -> String {
        self.services
            .get(client_id)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| client_id.to_owned())
    }

    /// The role's label, without its code.
    pub(super) fn role_label(&self, client_id: &str, role: &str) -> String {
        self.services
            .get(client_id)
            .and_then(|s| s.roles.iter().find(|r| r.code == role))
            .map(|r| r.label.clone())
            .unwrap_or_else(|| role.to_owned())
    }

    /// "Action sociale (T1)": the label, and the code officers also use.
    pub(super) fn role(&self, client_id: &str, role: &str) -> String {
        crate::store::role_display(&self.role_label(client_id, role), role)
    }
}
