//! Property tests of everything that parses outside input: authorization and token
//! parameters, provisioning files, annexe 1 (text and CSV), trace batches, compact JWS. The
//! parsers must never panic, and the server must answer every input with a 2xx, 3xx or 4xx,
//! never a 5xx.
//!
//! In the suite each property runs a few dozen cases; for a longer run:
//! `PROPTEST_CASES=20000 cargo nextest run -E 'test(fuzz::)'` (see README, "Fuzzing").

use crate::helpers::*;
use passerelle::crypto::b64url;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

/// The case count: `PROPTEST_CASES` when set, else `default`.
fn runner(default: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Text a hostile or careless sender may produce: any characters, with the separators and
/// control characters the parsers look at more often than chance would give them.
fn hostile_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => any::<char>().prop_map(String::from),
            2 => prop::sample::select(vec![
                ";", ",", "\n", "\r\n", "\"", "'", "=", "@", "%", "&", "+", ".", "\u{feff}",
                "\0", "\t", " ", "é", "1 -", "2 -", "nom", "email", "prénom", "liste",
                "@roumois-seine.example", "01/02/2026", "2026-13-45", "[", "]", "{", "}",
            ])
            .prop_map(str::to_owned),
            1 => "[a-z]{1,12}",
        ],
        0..80,
    )
    .prop_map(|parts| parts.concat())
}

/// An annex as people write it: headings, person lines with more or fewer fields, a CSV
/// header sometimes, and noise.
fn annex_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("1 - Accès à ouvrir".to_owned()),
        Just("2 - Accès à clôturer".to_owned()),
        Just("liste;civilité;nom;prénom;email;fonction;date;rôles".to_owned()),
        (
            "[A-Z]{1,10}",
            "[A-Za-zé]{1,10}",
            "[a-z.]{1,10}",
            hostile_text()
        )
            .prop_map(|(n, p, e, f)| format!(
                "{n} {p} ; {e}@roumois-seine.example ; {f} ; 01/02/2026"
            )),
        hostile_text(),
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

#[test]
fn fuzz_parsers_never_panic() {
    // A runner counts its successes: one per property.
    let runner = || runner(256);
    runner()
        .run(&annex_text(), |text| {
            let _ = passerelle::habilitations::annexe1::parse(&text);
            Ok(())
        })
        .unwrap();
    runner()
        .run(&hostile_text(), |text| {
            let _ = passerelle::habilitations::annexe1::parse(&text);
            let _ = passerelle::oidc::params::Params::parse(text.as_bytes());
            let _ = passerelle::oidc::params::form_urldecode(&text);
            let _ = passerelle::provision::parse(&text, "fuzz");
            Ok(())
        })
        .unwrap();
    // The demo's own provisioning with a slice replaced by noise.
    let demo = passerelle::cli::DEMO_PROVISIONING;
    runner()
        .run(
            &(0..demo.len(), 0usize..200, hostile_text()),
            |(at, len, noise)| {
                let start = (0..=at).rev().find(|i| demo.is_char_boundary(*i)).unwrap();
                let end = (start + len).min(demo.len());
                let end = (end..=demo.len())
                    .find(|i| demo.is_char_boundary(*i))
                    .unwrap();
                let text = format!("{}{noise}{}", &demo[..start], &demo[end..]);
                let _ = passerelle::provision::parse(&text, "fuzz");
                Ok(())
            },
        )
        .unwrap();
    // Every CSV cell comes back from its neutralised form unchanged, and never starts a formula.
    runner()
        .run(&hostile_text(), |cell| {
            let safe = passerelle::csv_out::neutralise(&cell);
            prop_assert!(!safe.starts_with(['=', '+', '-', '@', '\t', '\r']));
            prop_assert_eq!(passerelle::csv_out::restore(&safe), cell.as_str());
            Ok(())
        })
        .unwrap();
}

/// A compact JWS as an attacker may forge it: real key ids and algorithms in the header
/// sometimes, any payload, any signature.
fn compact_jws(kids: Vec<(String, String)>) -> impl Strategy<Value = String> {
    let header = prop_oneof![
        prop::sample::select(kids).prop_map(|(kid, alg)| json!({ "kid": kid, "alg": alg })),
        (hostile_text(), hostile_text()).prop_map(|(kid, alg)| json!({ "kid": kid, "alg": alg })),
        hostile_text().prop_map(Value::String),
    ];
    let payload = prop_oneof![
        (hostile_text(), hostile_text())
            .prop_map(|(iss, sub)| json!({ "iss": iss, "sub": sub, "aud": [sub] })),
        hostile_text().prop_map(|t| json!(t)),
    ];
    let segment = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|b| b64url(&b)),
        hostile_text(),
    ];
    (header, payload, segment, 0usize..4).prop_map(|(h, p, s, dots)| {
        let mut jws = format!(
            "{}.{}.{s}",
            b64url(h.to_string().as_bytes()),
            b64url(p.to_string().as_bytes())
        );
        jws.push_str(&".".repeat(dots.saturating_sub(2)));
        jws
    })
}

/// Answers below 500 only.
fn served(status: u16, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(status < 500, "{} answered {}", what, status);
    Ok(())
}

#[test]
fn fuzz_the_server_answers_no_input_with_a_5xx() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(TestApp::spawn());
    let jwks = runtime.block_on(app.get_json("/jwks.json"));
    let kids: Vec<(String, String)> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["alg"].as_str().unwrap_or("RS256").to_owned(),
            )
        })
        .collect();
    let runner = || runner(96);

    // JWS parsing, as id_token_hint and logout read it.
    runner()
        .run(&compact_jws(kids.clone()), |jws| {
            prop_assert!(passerelle::oidc::id_token::parse_hint(&app.state, &jws).is_none());
            Ok(())
        })
        .unwrap();

    // Authorization requests: known parameters with any values, valid ones mixed in.
    let names = vec![
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "prompt",
        "max_age",
        "id_token_hint",
        "acr_values",
        "login_hint",
        "response_mode",
        "request",
        "claims",
        "ui_locales",
    ];
    let value = prop_oneof![
        hostile_text(),
        prop::sample::select(vec![
            DEMO_ID,
            DEMO_REDIRECT,
            "code",
            "openid",
            "openid profile email habilitations",
            CHALLENGE,
            "S256",
            "none",
            "login",
            "0",
            "-1",
            "99999999999999999999",
        ])
        .prop_map(str::to_owned),
        compact_jws(kids.clone()),
    ];
    let query = prop::collection::vec((prop::sample::select(names), value), 0..10);
    runner()
        .run(&query, |pairs| {
            let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
            url.query_pairs_mut().extend_pairs(&pairs);
            let status = runtime.block_on(async {
                let get = app.api.get(url.clone()).send().await.unwrap().status();
                let post = app
                    .api
                    .post(app.url("/authorize"))
                    .form(&pairs)
                    .send()
                    .await
                    .unwrap()
                    .status();
                get.as_u16().max(post.as_u16())
            });
            served(status, url.as_str())
        })
        .unwrap();

    // The token, introspection and revocation endpoints with any form.
    let form_names = vec![
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "scope",
        "client_id",
        "client_secret",
        "token",
        "token_type_hint",
        "client_assertion",
    ];
    let form = prop::collection::vec((prop::sample::select(form_names), hostile_text()), 0..8);
    runner()
        .run(
            &(
                form,
                prop::sample::select(vec!["/token", "/introspect", "/revoke"]),
            ),
            |(pairs, path)| {
                let status = runtime.block_on(async {
                    app.api
                        .post(app.url(path))
                        .basic_auth(DEMO_ID, Some(DEMO_SECRET))
                        .form(&pairs)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                });
                served(status, path)
            },
        )
        .unwrap();

    // Trace batches: events of any shape, or no JSON at all.
    let token = runtime.block_on(crate::traces::rp_token(&app));
    let sub = runtime.block_on(app.account(CLAIRE)).id.to_string();
    let field = prop_oneof![
        hostile_text().prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
        Just(json!(sub)),
        Just(json!("2026-12-01T08:00:00Z")),
        Just(json!([1, "a"])),
    ];
    let event = prop::collection::vec(
        (
            prop::sample::select(vec![
                "id",
                "at",
                "sub",
                "sid",
                "action",
                "target",
                "outcome",
                "reason",
                "ip",
                "user_agent",
                "extra",
            ]),
            field,
        ),
        0..10,
    )
    .prop_map(|fields| Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    let body = prop_oneof![
        prop::collection::vec(event, 0..5)
            .prop_map(|events| json!({ "events": events }).to_string()),
        hostile_text(),
    ];
    runner()
        .run(&body, |body| {
            let status = runtime.block_on(async {
                app.api
                    .post(app.url("/api/v1/traces"))
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            });
            served(status, &body)
        })
        .unwrap();

    // Annexe 1 imports (plans only: nothing is applied), as the national operator.
    let officer = runtime.block_on(app.api_token("exploitation@cnaf.example"));
    runner()
        .run(&annex_text(), |text| {
            let status = runtime.block_on(async {
                app.api
                    .post(app.url(
                        "/api/v1/partners/cc-pilat-rhodanien/annexe1?service=demo-app&role=utilisateur",
                    ))
                    .bearer_auth(&officer)
                    .header("content-type", "text/plain; charset=utf-8")
                    .body(text.clone())
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            });
            served(status, &text)
        })
        .unwrap();
}
