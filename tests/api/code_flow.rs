//! The whole authorization-code flow driven by the `openidconnect` crate as a certified-style
//! relying party: discovery, login form, code exchange with PKCE, ID token verification
//! against the JWKS (signature, nonce, at_hash), userinfo, then refresh, introspection,
//! revocation and logout.

use crate::helpers::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope,
    TokenResponse, UserInfoClaims,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Organisation {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    id: Option<String>,
    name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Role {
    role: String,
    #[serde(default)]
    scope: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Extra {
    caf: Option<Organisation>,
    partner: Option<Organisation>,
    habilitations: Option<Vec<Role>>,
}

/// Who logs in, and what the relying application should learn about them.
struct Person {
    email: &'static str,
    given_name: &'static str,
    partner: &'static str,
    caf: &'static str,
    /// The roles and scopes expected for the client logged in to.
    roles: Vec<Role>,
}

impl Person {
    /// The demo password: the monenfant policy takes letters and digits only.
    fn password(&self) -> &'static str {
        if self.partner == "cc-pilat-rhodanien" {
            "DemoPasserelle2026"
        } else {
            PASSWORD
        }
    }
}

fn claire() -> Person {
    Person {
        email: CLAIRE,
        given_name: "Claire",
        partner: "cc-roumois-seine",
        caf: "27",
        roles: vec![Role {
            role: "utilisateur".into(),
            scope: vec![],
        }],
    }
}
impl AdditionalClaims for Extra {}

fn rp_http() -> reqwest::Client {
    // openidconnect requires a client that does not follow redirects (SSRF protection).
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Runs discovery, login and code exchange for a client, and verifies the ID token.
async fn full_flow(
    app: &TestApp,
    person: &Person,
    client_id: &str,
    secret: &str,
    redirect: &str,
) -> (CoreTokenResponse, String) {
    let http = rp_http();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.into()),
        Some(ClientSecret::new(secret.into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("habilitations".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = browser();
    let response = app
        .login(&browser, auth_url.as_str(), person.email, person.password())
        .await;
    let params = redirect_params(&response, redirect);
    assert_eq!(params.get("state"), Some(csrf.secret()));
    assert_eq!(
        params.get("iss"),
        Some(&app.issuer),
        "RFC 9207 iss parameter"
    );
    let code = params["code"].clone();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("ID token verifies against the JWKS");
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash), "at_hash");
    assert_eq!(claims.issuer().as_str(), app.issuer);
    assert_eq!(claims.audiences()[0].as_str(), client_id);
    assert!(claims.auth_time().is_some());
    assert_eq!(
        claims.auth_context_ref().unwrap().as_str(),
        "urn:passerelle:acr:pwd"
    );
    assert_eq!(claims.auth_method_refs().unwrap()[0].as_str(), "pwd");
    assert_eq!(claims.email().unwrap().as_str(), person.email);
    let payload: Extra = serde_json::from_slice(&base64_decode(
        id_token.to_string().split('.').nth(1).unwrap(),
    ))
    .unwrap();
    assert_eq!(
        payload.habilitations.as_ref(),
        Some(&person.roles),
        "the ID token carries the roles held for this client only"
    );
    let sub = claims.subject().to_string();

    let userinfo: UserInfoClaims<Extra, CoreGenderClaim> = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject().as_str(), sub);
    assert_eq!(userinfo.email().unwrap().as_str(), person.email);
    assert_eq!(
        userinfo.given_name().unwrap().get(None).unwrap().as_str(),
        person.given_name
    );
    assert_eq!(
        userinfo.additional_claims().habilitations.as_ref(),
        Some(&person.roles)
    );
    let partner = userinfo
        .additional_claims()
        .partner
        .clone()
        .expect("partner claim");
    assert_eq!(partner.id.as_deref(), Some(person.partner));
    assert_eq!(
        userinfo
            .additional_claims()
            .caf
            .as_ref()
            .unwrap()
            .code
            .as_deref(),
        Some(person.caf)
    );
    (tokens, sub)
}

#[tokio::test]
async fn a_relying_party_logs_in_with_rs256_then_refreshes_introspects_revokes() {
    let app = TestApp::spawn().await;
    let (tokens, sub) = full_flow(&app, &claire(), DEMO_ID, DEMO_SECRET, DEMO_REDIRECT).await;
    let id_token = tokens.id_token().unwrap().to_string();
    let header: serde_json::Value =
        serde_json::from_slice(&base64_decode(id_token.split('.').next().unwrap())).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert!(
        header["kid"].as_str().is_some_and(|k| !k.is_empty()),
        "every JWT carries a kid"
    );

    // Introspection of the access token.
    let access = tokens.access_token().secret().clone();
    let info = app.introspect(&access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], sub);
    assert_eq!(info["client_id"], DEMO_ID);

    // Refresh with rotation.
    let http = rp_http();
    let refresh = tokens
        .refresh_token()
        .expect("a refresh token")
        .secret()
        .clone();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(DEMO_ID.into()),
        Some(ClientSecret::new(DEMO_SECRET.into())),
    );
    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    let new_refresh = refreshed.refresh_token().unwrap().secret().clone();
    assert_ne!(new_refresh, refresh, "refresh tokens rotate");
    assert_eq!(
        app.userinfo(refreshed.access_token().secret())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.introspect(&new_refresh).await["token_type"],
        "refresh_token"
    );

    // Revocation of the refresh token revokes the grant, access tokens included.
    let response = app
        .api
        .post(app.url("/revoke"))
        .basic_auth(DEMO_ID, Some(DEMO_SECRET))
        .form(&[
            ("token", new_refresh.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.introspect(&new_refresh).await["active"], false);
    assert_eq!(
        app.introspect(refreshed.access_token().secret()).await["active"],
        false
    );
    assert_eq!(
        app.userinfo(refreshed.access_token().secret())
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn es256_and_eddsa_clients_get_tokens_that_verify_against_the_jwks() {
    let app = TestApp::spawn().await;
    // The demo signs for RS256 and ES256 only; CDAP asks for EdDSA here.
    let cdap = passerelle::types::ClientId::parse("cdap").unwrap();
    let mut service = app
        .state
        .stores
        .services
        .get_service(&cdap)
        .await
        .unwrap()
        .unwrap();
    service.id_token_alg = passerelle::store::SigningAlg::EdDSA;
    app.state
        .stores
        .services
        .upsert_service(&service)
        .await
        .unwrap();
    let julien = Person {
        email: "julien.moreau@pilat-rhodanien.example",
        given_name: "Julien",
        partner: "cc-pilat-rhodanien",
        caf: "42",
        roles: vec![Role {
            role: "lieu-information".into(),
            scope: vec!["42056".into(), "42130".into(), "42168".into()],
        }],
    };
    let sophie = Person {
        email: SOPHIE,
        given_name: "Sophie",
        partner: "ville-de-niort",
        caf: "79",
        roles: vec![Role {
            role: "T1".into(),
            scope: vec![],
        }],
    };
    for (person, client, secret, redirect, alg) in [
        (
            &julien,
            "monenfant-extranet",
            "monenfant-demo-secret-change-me-0123456789",
            "https://extranet.monenfant.example/connexion/retour",
            "ES256",
        ),
        (
            &sophie,
            "cdap",
            "cdap-demo-secret-change-me-0123456789abcd",
            "https://cdap.caf.example/auth/callback",
            "EdDSA",
        ),
    ] {
        let (tokens, _) = full_flow(&app, person, client, secret, redirect).await;
        let id_token = tokens.id_token().unwrap().to_string();
        let header: serde_json::Value =
            serde_json::from_slice(&base64_decode(id_token.split('.').next().unwrap())).unwrap();
        assert_eq!(header["alg"], alg, "{client}");
    }
}

pub fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}
