//! Validation of a whole provisioning file against itself and the stores, before anything is written.

use super::*;

pub(super) struct Validated {
    pub(super) cafs: Vec<Caf>,
    pub(super) partners: Vec<Partner>,
    pub(super) services: Vec<Service>,
    pub(super) conventions: Vec<(Convention, Vec<QuotaLine>)>,
    pub(super) accounts: Vec<ValidatedAccount>,
    pub(super) groups: Vec<ValidatedGroup>,
}

/// A quota of a convention: service, role, maximum.
pub(super) type QuotaLine = (ClientId, RoleCode, u32);

pub(super) struct ValidatedAccount {
    pub(super) profile: AccountProfile,
    pub(super) password: Option<Password>,
    pub(super) habilitations: Vec<GrantSpec>,
    pub(super) delegations: Vec<Delegation>,
}

pub(super) struct ValidatedGroup {
    pub(super) partner: PartnerId,
    pub(super) name: String,
    pub(super) members: Vec<Email>,
    pub(super) habilitations: Vec<GrantSpec>,
}

#[derive(Debug, Clone)]
pub(super) struct GrantSpec {
    pub(super) client_id: ClientId,
    pub(super) role: RoleCode,
    pub(super) scope: Vec<String>,
    pub(super) valid_until: Option<i64>,
}

/// What validation needs to know of services and conventions, from the file or the store.
pub(super) struct Known {
    pub(super) services: BTreeMap<ClientId, Service>,
    pub(super) conventions: Vec<Convention>,
}

impl Known {
    pub(super) async fn service(
        &mut self,
        stores: &Stores,
        id: &ClientId,
    ) -> Result<Option<Service>, ProvisionError> {
        if let Some(s) = self.services.get(id) {
            return Ok(Some(s.clone()));
        }
        let found = stores.services.get_service(id).await?;
        if let Some(s) = &found {
            self.services.insert(id.clone(), s.clone());
        }
        Ok(found)
    }

    /// Checks a habilitation entry for a person or group of `partner`.
    async fn grant(
        &mut self,
        stores: &Stores,
        partner: &PartnerId,
        entry: &HabilitationEntry,
    ) -> Result<GrantSpec, String> {
        let client_id = ClientId::parse(&entry.service).map_err(|e| e.0)?;
        let service = self
            .service(stores, &client_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!("service `{client_id}` is neither in this file nor provisioned")
            })?;
        let role = RoleCode::parse(&entry.role).map_err(|e| e.0)?;
        let scope = manage::validate_role_and_scope(&service, &role, &entry.scope)
            .map_err(|e| e.to_string())?;
        let mut conventions = stores
            .habilitations
            .conventions_of_partner(partner)
            .await
            .map_err(|e| e.to_string())?;
        conventions.extend(
            self.conventions
                .iter()
                .filter(|c| &c.partner == partner)
                .cloned(),
        );
        let today = crate::habilitations::today();
        if !conventions
            .iter()
            .any(|c| c.in_force_on(today) && c.services.contains(&client_id))
        {
            return Err(format!(
                "no convention in force opens service `{client_id}` to partner `{partner}`"
            ));
        }
        Ok(GrantSpec {
            client_id,
            role,
            scope,
            // The last day included, in Europe/Paris, as everywhere else.
            valid_until: entry.valid_until.map(crate::clock::paris_end_of),
        })
    }
}

pub(super) async fn caf_known(
    stores: &Stores,
    listed: &BTreeSet<CafCode>,
    code: &CafCode,
) -> Result<bool, ProvisionError> {
    Ok(listed.contains(code) || stores.organisations.get_caf(code).await?.is_some())
}

pub(super) fn invalid<T>(message: String) -> Result<T, ProvisionError> {
    Err(ProvisionError::Invalid(message))
}

pub(super) async fn validate(
    file: &ProvisionFile,
    state: &AppState,
    allow_passwords: bool,
) -> Result<Validated, ProvisionError> {
    let (stores, policies) = (&state.stores, &state.policies);
    let mut cafs = Vec::new();
    let mut caf_codes = BTreeSet::new();
    for c in &file.caf {
        let code =
            CafCode::parse(&c.code).map_err(|e| ProvisionError::Invalid(format!("caf: {e}")))?;
        if c.name.trim().is_empty() {
            return invalid(format!("caf `{code}`: name must not be empty"));
        }
        if !caf_codes.insert(code.clone()) {
            return invalid(format!("caf `{code}` appears twice"));
        }
        cafs.push(Caf {
            code,
            name: c.name.trim().to_owned(),
        });
    }
    let mut partners = Vec::new();
    let mut partner_ids = BTreeSet::new();
    for p in &file.partner {
        let id = PartnerId::parse(&p.id)
            .map_err(|e| ProvisionError::Invalid(format!("partner: {e}")))?;
        let caf = CafCode::parse(&p.caf)
            .map_err(|e| ProvisionError::Invalid(format!("partner `{id}`: {e}")))?;
        if !caf_known(stores, &caf_codes, &caf).await? {
            return invalid(format!(
                "partner `{id}`: Caf `{caf}` is neither in this file nor provisioned"
            ));
        }
        let siret = p
            .siret
            .as_deref()
            .map(Siret::parse)
            .transpose()
            .map_err(|e| ProvisionError::Invalid(format!("partner `{id}`: {e}")))?;
        if p.name.trim().is_empty() {
            return invalid(format!("partner `{id}`: name must not be empty"));
        }
        if !partner_ids.insert(id.clone()) {
            return invalid(format!("partner `{id}` appears twice"));
        }
        partners.push(Partner {
            id,
            caf,
            name: p.name.trim().to_owned(),
            siret,
            commune: Partner::commune_of(p.commune.as_deref()),
        });
    }
    let mut services = Vec::new();
    let mut client_ids = BTreeSet::new();
    for s in &file.service {
        let client_id = ClientId::parse(&s.client_id)
            .map_err(|e| ProvisionError::Invalid(format!("service: {e}")))?;
        let ctx = |m: String| ProvisionError::Invalid(format!("service `{client_id}`: {m}"));
        if !client_ids.insert(client_id.clone()) {
            return Err(ctx("appears twice".into()));
        }
        let parse_uris = |uris: &[String]| -> Result<Vec<RedirectUri>, ProvisionError> {
            uris.iter()
                .map(|u| RedirectUri::parse(u).map_err(|e| ctx(e.0)))
                .collect()
        };
        let redirect_uris = parse_uris(&s.redirect_uris)?;
        let post_logout_redirect_uris = parse_uris(&s.post_logout_redirect_uris)?;
        let current = stores.services.get_service(&client_id).await?;
        let (secret_sha256, protocol) =
            super::protocol::authentication(state, s, current.as_ref()).map_err(ctx)?;
        if s.client_type == ClientType::Public && s.pkce == PkcePolicy::Optional {
            return Err(ctx("PKCE cannot be optional for a public service".into()));
        }
        if s.grant_types.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(ctx(
                "the authorization_code grant needs at least one redirect URI".into(),
            ));
        }
        if s.client_type == ClientType::Public
            && s.grant_types.contains(&GrantType::ClientCredentials)
        {
            return Err(ctx("a public service cannot use client_credentials".into()));
        }
        let id_token_alg = SigningAlg::parse(&s.id_token_signed_response_alg).ok_or_else(|| {
            ctx(format!(
                "id_token_signed_response_alg `{}` must be RS256, ES256 or EdDSA",
                s.id_token_signed_response_alg
            ))
        })?;
        let client_scopes = Scopes::parse(&s.client_scopes.join(" ")).map_err(|e| ctx(e.0))?;
        if client_scopes.contains("openid") {
            return Err(ctx(
                "client_scopes are for client_credentials and cannot contain `openid`".into(),
            ));
        }
        let mut role_codes = BTreeSet::new();
        for r in &s.roles {
            if r.code.trim().is_empty() || !role_codes.insert(r.code.clone()) {
                return Err(ctx(format!("role `{}` is empty or appears twice", r.code)));
            }
        }
        if let Some(policy) = &s.password_policy
            && !policies.contains(policy)
        {
            return Err(ctx(format!(
                "password_policy `{policy}` is not configured (known: {})",
                policies.names().collect::<Vec<_>>().join(", ")
            )));
        }
        let mut grant_types = s.grant_types.clone();
        grant_types.sort_by_key(|g| g.as_str());
        grant_types.dedup();
        services.push(Service {
            client_id: client_id.clone(),
            name: s.name.trim().to_owned(),
            client_type: s.client_type,
            secret_sha256,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types,
            pkce: s.pkce,
            id_token_alg,
            client_scopes,
            roles: s.roles.clone(),
            password_policy: s.password_policy.clone(),
            onboarding: s.onboarding,
            mfa: s.mfa,
            backchannel_logout_uri: s
                .backchannel_logout_uri
                .as_deref()
                .map(RedirectUri::parse)
                .transpose()
                .map_err(|e| ctx(format!("backchannel_logout_uri: {e}")))?,
            habilitation_scope: s.habilitation_scope,
            introspects: s
                .introspects
                .iter()
                .map(|c| ClientId::parse(c).map_err(|e| ctx(format!("introspects: {e}"))))
                .collect::<Result<_, _>>()?,
            protocol,
        });
    }
    let mut known = Known {
        services: services
            .iter()
            .map(|s| (s.client_id.clone(), s.clone()))
            .collect(),
        conventions: Vec::new(),
    };
    let mut conventions = Vec::new();
    let mut numbers = BTreeSet::new();
    for c in &file.convention {
        let id = ConventionId::parse(&c.id)
            .map_err(|e| ProvisionError::Invalid(format!("convention: {e}")))?;
        let ctx = |m: String| ProvisionError::Invalid(format!("convention `{id}`: {m}"));
        if c.number.trim().is_empty() || !numbers.insert(c.number.trim().to_owned()) {
            return Err(ctx("number is empty or appears twice".into()));
        }
        let partner_id = PartnerId::parse(&c.partner).map_err(|e| ctx(e.0))?;
        let caf = match partners.iter().find(|p| p.id == partner_id) {
            Some(p) => p.caf.clone(),
            None => match stores.organisations.get_partner(&partner_id).await? {
                Some(p) => p.caf,
                None => {
                    return Err(ctx(format!(
                        "partner `{partner_id}` is neither in this file nor provisioned"
                    )));
                }
            },
        };
        let mut convention_services = Vec::new();
        for s in &c.services {
            let client_id = ClientId::parse(s).map_err(|e| ctx(e.0))?;
            if known.service(stores, &client_id).await?.is_none() {
                return Err(ctx(format!(
                    "service `{client_id}` is neither in this file nor provisioned"
                )));
            }
            convention_services.push(client_id);
        }
        if let Some(end) = c.terminated_on
            && end <= c.starts_on
        {
            return Err(ctx("terminated_on must follow starts_on".into()));
        }
        let mut quotas = Vec::new();
        for q in &c.quotas {
            let client_id = ClientId::parse(&q.service).map_err(|e| ctx(e.0))?;
            if !convention_services.contains(&client_id) {
                return Err(ctx(format!(
                    "quota for service `{client_id}`, which the convention does not open"
                )));
            }
            let role = RoleCode::parse(&q.role).map_err(|e| ctx(e.0))?;
            let service = known
                .service(stores, &client_id)
                .await?
                .expect("checked above");
            manage::check_role(&service, &role).map_err(|e| ctx(e.to_string()))?;
            quotas.push((client_id, role, q.maximum));
        }
        let mut roles = Vec::new();
        for entry in &c.roles {
            let client_id = ClientId::parse(&entry.service).map_err(|e| ctx(e.0))?;
            if !convention_services.contains(&client_id) {
                return Err(ctx(format!(
                    "roles of service `{client_id}`, which the convention does not open"
                )));
            }
            let service = known
                .service(stores, &client_id)
                .await?
                .expect("checked above");
            for r in &entry.roles {
                let role = RoleCode::parse(r).map_err(|e| ctx(e.0))?;
                manage::check_role(&service, &role).map_err(|e| ctx(e.to_string()))?;
                roles.push(crate::store::SubscribedRole {
                    service: client_id.clone(),
                    role,
                });
            }
        }
        for (client_id, role, _) in &quotas {
            if !roles.is_empty()
                && roles.iter().any(|r| &r.service == client_id)
                && !roles
                    .iter()
                    .any(|r| &r.service == client_id && &r.role == role)
            {
                return Err(ctx(format!(
                    "quota for role `{role}` of `{client_id}`, which the convention does not subscribe to"
                )));
            }
        }
        let convention = Convention {
            id,
            roles,
            number: c.number.trim().to_owned(),
            kind: c.kind,
            caf,
            partner: partner_id,
            services: convention_services,
            starts_on: c.starts_on,
            terminated_on: c.terminated_on,
            mode: c.mode,
            contacts: c.contacts.clone(),
        };
        known.conventions.push(convention.clone());
        conventions.push((convention, quotas));
    }
    let mut accounts = Vec::new();
    let mut emails = BTreeSet::new();
    for a in &file.account {
        let email =
            Email::parse(&a.email).map_err(|e| ProvisionError::Invalid(format!("account: {e}")))?;
        let shown = email.to_string();
        let ctx = |m: String| ProvisionError::Invalid(format!("account `{shown}`: {m}"));
        if !emails.insert(email.clone()) {
            return Err(ctx("appears twice".into()));
        }
        if a.given_name.trim().is_empty() || a.family_name.trim().is_empty() {
            return Err(ctx("given_name and family_name are required".into()));
        }
        let partner = a
            .partner
            .as_deref()
            .map(PartnerId::parse)
            .transpose()
            .map_err(|e| ctx(e.0))?;
        if let Some(p) = &partner
            && !partner_ids.contains(p)
            && stores.organisations.get_partner(p).await?.is_none()
        {
            return Err(ctx(format!(
                "partner `{p}` is neither in this file nor provisioned"
            )));
        }
        let caf = a
            .caf
            .as_deref()
            .map(CafCode::parse)
            .transpose()
            .map_err(|e| ctx(e.0))?;
        if let Some(c) = &caf
            && !caf_known(stores, &caf_codes, c).await?
        {
            return Err(ctx(format!(
                "Caf `{c}` is neither in this file nor provisioned"
            )));
        }
        if partner.is_some() == caf.is_some() {
            return Err(ctx(
                "set exactly one of `partner` (partner staff) or `caf` (Caf staff)".into(),
            ));
        }
        let mut services = Vec::new();
        for id in &a.services {
            let id = ClientId::parse(id).map_err(|e| ctx(e.0))?;
            if !client_ids.contains(&id) && stores.services.get_service(&id).await?.is_none() {
                return Err(ctx(format!(
                    "service `{id}` is neither in this file nor provisioned"
                )));
            }
            services.push(id);
        }
        let password = match &a.password {
            Some(_) if !allow_passwords => {
                return Err(ctx(
                    "passwords cannot be provisioned: the person chooses theirs through the activation link (only `passerelle demo` accepts demo passwords)".into(),
                ));
            }
            Some(p) => Some(Password::new(p.clone())),
            None => None,
        };
        let mut habilitations = Vec::new();
        let mut delegations = Vec::new();
        if !a.habilitations.is_empty() || !a.delegations.is_empty() {
            let Some(p) = &partner else {
                return Err(ctx(
                    "habilitations and delegations are for partner staff only".into(),
                ));
            };
            for h in &a.habilitations {
                habilitations.push(known.grant(stores, p, h).await.map_err(ctx)?);
            }
            if !a.delegations.is_empty() && !a.admin_roles.contains(&AdminRole::DelegatedManager) {
                return Err(ctx("delegations need the delegated_manager role".into()));
            }
            for d in &a.delegations {
                let client_id = ClientId::parse(&d.service).map_err(|e| ctx(e.0))?;
                let service = known
                    .service(stores, &client_id)
                    .await?
                    .ok_or_else(|| ctx(format!("service `{client_id}` is unknown")))?;
                let role = d
                    .role
                    .as_deref()
                    .map(RoleCode::parse)
                    .transpose()
                    .map_err(|e| ctx(e.0))?;
                if let Some(role) = &role {
                    manage::check_role(&service, role).map_err(|e| ctx(e.to_string()))?;
                }
                delegations.push(Delegation { client_id, role });
            }
        }
        let partner_roles = [
            AdminRole::PartnerAdministrator,
            AdminRole::PartnerSubstitute,
            AdminRole::DelegatedManager,
        ];
        if partner.is_none() && a.admin_roles.iter().any(|r| partner_roles.contains(r)) {
            return Err(ctx("partner administrator roles need `partner`".into()));
        }
        if caf.is_none() && a.admin_roles.contains(&AdminRole::CafHabilitationOfficer) {
            return Err(ctx("caf_habilitation_officer needs `caf`".into()));
        }
        let profile = AccountProfile {
            email,
            civility: a.civility.clone(),
            given_name: a.given_name.trim().to_owned(),
            family_name: a.family_name.trim().to_owned(),
            function: a.function.clone(),
            partner,
            caf,
            services,
            admin_roles: {
                let mut roles = a.admin_roles.clone();
                roles.sort();
                roles.dedup();
                roles
            },
        };
        if let Some(password) = &password {
            // A demo password obeys the policy its holder will be held to, like any other.
            let mut services = profile.services.clone();
            services.extend(habilitations.iter().map(|h| h.client_id.clone()));
            let mut names = Vec::new();
            if !profile.admin_roles.is_empty() {
                names.push(state.settings.administrator_password_policy.clone());
            }
            for id in &services {
                if let Some(s) = known.service(stores, id).await? {
                    names.extend(s.password_policy);
                }
            }
            let policy = policies.strictest(names.iter().map(String::as_str));
            let given = [profile.given_name.as_str(), profile.family_name.as_str()];
            let person = PersonalContext {
                email_local_part: profile.email.local_part(),
                names: &given,
            };
            let failures = policy.check(password.expose(), &person);
            if !failures.is_empty() {
                let rules: Vec<String> = failures.iter().map(|f| f.french()).collect();
                return Err(ctx(format!(
                    "the demo password breaks the password policy of this account: {}",
                    rules.join(" ")
                )));
            }
        }
        accounts.push(ValidatedAccount {
            habilitations,
            delegations,
            profile,
            password,
        });
    }
    let mut groups = Vec::new();
    let mut group_keys = BTreeSet::new();
    for g in &file.group {
        let partner = PartnerId::parse(&g.partner)
            .map_err(|e| ProvisionError::Invalid(format!("group: {e}")))?;
        let ctx =
            |m: String| ProvisionError::Invalid(format!("group `{}` of `{partner}`: {m}", g.name));
        if g.name.trim().is_empty()
            || !group_keys.insert((partner.clone(), g.name.trim().to_owned()))
        {
            return Err(ctx("name is empty or appears twice".into()));
        }
        let mut members = Vec::new();
        for m in &g.members {
            let email = Email::parse(m).map_err(|e| ctx(e.0))?;
            let member_partner = match accounts.iter().find(|a| a.profile.email == email) {
                Some(a) => a.profile.partner.clone(),
                None => stores
                    .accounts
                    .find_account_by_email(&email)
                    .await?
                    .and_then(|a| a.profile.partner),
            };
            if member_partner.as_ref() != Some(&partner) {
                return Err(ctx(format!(
                    "member {email} is not an account of this partner"
                )));
            }
            members.push(email);
        }
        let mut habilitations = Vec::new();
        for h in &g.habilitations {
            habilitations.push(known.grant(stores, &partner, h).await.map_err(ctx)?);
        }
        groups.push(ValidatedGroup {
            partner,
            name: g.name.trim().to_owned(),
            members,
            habilitations,
        });
    }
    Ok(Validated {
        cafs,
        partners,
        services,
        conventions,
        accounts,
        groups,
    })
}
