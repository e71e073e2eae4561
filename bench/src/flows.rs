//! What the load generator asks Passerelle, request by request, as a relying application and its
//! users' browsers would: the code flow with PKCE, the token endpoint's grants, introspection,
//! userinfo, the JWKS, and the trace API.

use serde_json::Value;
use std::time::{Duration, Instant};

pub const CLIENT: &str = "bench-rp";
/// The same application provisioned to sign its ID tokens with ES256 instead of RS256.
pub const CLIENT_ES256: &str = "bench-rp-es256";
pub const SECRET: &str = "bench-rp-secret-0123456789-0123456789-abcdef";
pub const REDIRECT: &str = "http://127.0.0.1:9000/bench";
pub const PASSWORD: &str = "Bench-Passerelle-2026!";
/// RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The provisioning file for the benchmark: one confidential client allowed every grant and
/// trace submission, and `accounts` people of the demo's partner with a habilitation to it.
pub fn provisioning(accounts: usize) -> String {
    let mut text = String::new();
    for (client, alg) in [(CLIENT, "RS256"), (CLIENT_ES256, "ES256")] {
        text.push_str(&format!(
            "[[service]]\nclient_id = \"{client}\"\nname = \"Bench {alg}\"\ntype = \"confidential\"\nsecret = \"{SECRET}\"\n\
             redirect_uris = [\"{REDIRECT}\"]\ngrant_types = [\"authorization_code\", \"client_credentials\", \"refresh_token\"]\n\
             client_scopes = [\"traces:write\"]\nroles = [{{ code = \"agent\", label = \"Agent\" }}]\n\
             id_token_signed_response_alg = \"{alg}\"\n"
        ));
    }
    text.push_str(&format!(
        "[[convention]]\nid = \"bench\"\nnumber = \"BENCH\"\nkind = \"cooperation\"\n\
         partner = \"ville-de-niort\"\nservices = [\"{CLIENT}\", \"{CLIENT_ES256}\"]\nstarts_on = \"2024-01-01\"\n\
         quotas = [{{ service = \"{CLIENT}\", role = \"agent\", maximum = 1000000 }}, \
         {{ service = \"{CLIENT_ES256}\", role = \"agent\", maximum = 1000000 }}]\n"
    ));
    for i in 0..accounts {
        text.push_str(&format!(
            "[[account]]\nemail = \"{}\"\ngiven_name = \"Agent\"\nfamily_name = \"N{i}\"\n\
             partner = \"ville-de-niort\"\npassword = \"{PASSWORD}\"\n\
             habilitations = [{{ service = \"{CLIENT}\", role = \"agent\" }}, \
             {{ service = \"{CLIENT_ES256}\", role = \"agent\" }}]\n",
            email(i)
        ));
    }
    text
}

pub fn email(account: usize) -> String {
    format!("bench{account}@bench.example")
}

/// The tokens a code or refresh grant answers.
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

/// The HTTP side of the benchmark. Browsers do not follow redirects (the flow reads each
/// one); every simulated person carries their own cookie by hand on a shared keep-alive pool,
/// as a browser with an open connection would.
#[derive(Clone)]
pub struct Flows {
    pub issuer: String,
    /// The relying application the flows act as (`CLIENT` unless `as_client` said otherwise).
    client: &'static str,
    browsers: reqwest::Client,
    api: reqwest::Client,
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

impl Flows {
    pub fn new(issuer: String) -> Self {
        let browsers = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        let api = reqwest::Client::builder().build().expect("an HTTP client");
        Self {
            issuer,
            client: CLIENT,
            browsers,
            api,
        }
    }

    /// The same flows, on the same connections, as another provisioned application.
    pub fn as_client(&self, client: &'static str) -> Self {
        Self {
            client,
            ..self.clone()
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// A new browser opens the authorization request and the login page it is sent to:
    /// returns its cookie and the form's hidden fields.
    async fn login_form(&self) -> Option<(String, Vec<(&'static str, String)>)> {
        let authorize = self.url(&format!(
            "/authorize?client_id={}&redirect_uri={REDIRECT}&response_type=code&scope=openid&state=s&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256",
            self.client
        ));
        let r = self.browsers.get(&authorize).send().await.ok()?;
        let cookie = r
            .headers()
            .get("set-cookie")?
            .to_str()
            .ok()?
            .split(';')
            .next()?
            .to_owned();
        let login = r.headers().get("location")?.to_str().ok()?.to_owned();
        let html = self
            .browsers
            .get(self.url(&login))
            .header("cookie", &cookie)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let form = vec![
            ("csrf", hidden(&html, "csrf")?),
            ("request", hidden(&html, "request")?),
        ];
        Some((cookie, form))
    }

    /// A full password login: authorization request, login page, login POST (Argon2id), code
    /// exchange with PKCE.
    pub async fn login(&self, account: usize) -> Option<Tokens> {
        let (cookie, mut form) = self.login_form().await?;
        form.push(("email", email(account)));
        form.push(("password", PASSWORD.to_owned()));
        let r = self
            .browsers
            .post(self.url("/login"))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .ok()?;
        let target = url::Url::parse(r.headers().get("location")?.to_str().ok()?).ok()?;
        let code = target
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned())?;
        self.grant(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await
    }

    /// The time of one failed login POST for `email` (the login page opened before it is not
    /// counted).
    pub async fn failed_login(&self, email: &str) -> Option<Duration> {
        let (cookie, mut form) = self.login_form().await?;
        form.push(("email", email.to_owned()));
        form.push(("password", "Not-The-Password-1".to_owned()));
        let t = Instant::now();
        let r = self
            .browsers
            .post(self.url("/login"))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .ok()?;
        let elapsed = t.elapsed();
        (r.status() == 401).then_some(elapsed)
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Option<Value> {
        let r = self
            .api
            .post(self.url("/token"))
            .basic_auth(self.client, Some(SECRET))
            .form(form)
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        r.json().await.ok()
    }

    async fn grant(&self, form: &[(&str, &str)]) -> Option<Tokens> {
        let body = self.token_request(form).await?;
        Some(Tokens {
            access: body["access_token"].as_str()?.to_owned(),
            refresh: body["refresh_token"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// A client_credentials grant; `scope` may be empty.
    pub async fn client_credentials(&self, scope: &str) -> Option<String> {
        let mut form = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            form.push(("scope", scope));
        }
        let body = self.token_request(&form).await?;
        Some(body["access_token"].as_str()?.to_owned())
    }

    /// A refresh grant: answers the rotated refresh token.
    pub async fn refresh(&self, token: &str) -> Option<String> {
        let tokens = self
            .grant(&[("grant_type", "refresh_token"), ("refresh_token", token)])
            .await?;
        Some(tokens.refresh).filter(|t| !t.is_empty())
    }

    /// RFC 7662 introspection of `token` by the client; true when it is active.
    pub async fn introspect(&self, token: &str) -> Option<()> {
        let r = self
            .api
            .post(self.url("/introspect"))
            .basic_auth(self.client, Some(SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .ok()?;
        let body: Value = r.json().await.ok()?;
        (body["active"] == Value::Bool(true)).then_some(())
    }

    /// The userinfo of an access token; answers the person's `sub`.
    pub async fn userinfo(&self, access: &str) -> Option<String> {
        let r = self
            .api
            .get(self.url("/userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        let body: Value = r.json().await.ok()?;
        Some(body["sub"].as_str()?.to_owned())
    }

    /// The health probe: the cheapest request the HTTP stack answers.
    pub async fn healthz(&self) -> Option<()> {
        let r = self.api.get(self.url("/healthz")).send().await.ok()?;
        let ok = r.status() == 200;
        let body = r.bytes().await.ok()?;
        (ok && &body[..] == b"ok").then_some(())
    }

    /// The signing keys, as every relying application fetches them.
    pub async fn jwks(&self) -> Option<()> {
        let r = self.api.get(self.url("/jwks.json")).send().await.ok()?;
        let body: Value = r.json().await.ok()?;
        body["keys"]
            .as_array()
            .filter(|k| !k.is_empty())
            .map(|_| ())
    }

    /// Submits a batch of business events; answers how many were acknowledged.
    pub async fn submit_traces(&self, token: &str, events: &Value) -> Option<u64> {
        let r = self
            .api
            .post(self.url("/api/v1/traces"))
            .bearer_auth(token)
            .json(events)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        let _ = r.bytes().await;
        events["events"].as_array().map(|e| e.len() as u64)
    }

    /// A security officer's search (personal API token); answers the traces on the page.
    pub async fn search_traces(&self, token: &str, query: &[(&str, String)]) -> Option<u64> {
        let r = self
            .api
            .get(self.url("/api/v1/traces"))
            .bearer_auth(token)
            .query(query)
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        let body: Value = r.json().await.ok()?;
        body["traces"].as_array().map(|t| t.len() as u64)
    }

    /// The security dashboard's figures (default period: the last seven days).
    pub async fn dashboard(&self, token: &str) -> Option<u64> {
        let r = self
            .api
            .get(self.url("/api/v1/traces/dashboard"))
            .bearer_auth(token)
            .send()
            .await
            .ok()?;
        if r.status() != 200 {
            return None;
        }
        let body: Value = r.json().await.ok()?;
        body["days"].as_array().map(|d| d.len() as u64)
    }
}
