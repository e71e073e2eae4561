//! The administration console over HTTP: who may enter, what each role sees, and that forms
//! are checked server-side (the Chromium test in `browser` drives the pages themselves).

use crate::helpers::*;

const ADMIN_PASSWORD: &str = "Demo-Passerelle-Admin-2026!";
const NIORT_PRINCIPAL: &str = "marc.rousseau@niort.example";
const NIORT_SECURITY: &str = "helene.faure@niort.example";

async fn spawn_without_mfa() -> TestApp {
    TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await
}

async fn signed_in(app: &TestApp, email: &str, password: &str) -> reqwest::Client {
    let browser = browser();
    let response = app.submit_login(&browser, "/login", email, password).await;
    assert_eq!(response.status(), 303, "{email} logs in");
    browser
}

async fn get(app: &TestApp, browser: &reqwest::Client, path: &str) -> (u16, String) {
    let response = browser.get(app.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let body = response.text().await.unwrap();
    (status, location.unwrap_or(body))
}

#[tokio::test]
async fn the_console_asks_administrators_for_their_second_factor_and_refuses_others() {
    let app = TestApp::spawn().await;
    let admin = signed_in(&app, NIORT_PRINCIPAL, ADMIN_PASSWORD).await;
    let (status, location) = get(&app, &admin, "/console").await;
    assert_eq!(status, 303);
    assert_eq!(location, "/compte/double-authentification");

    let claire = signed_in(&app, CLAIRE, PASSWORD).await;
    let (status, page) = get(&app, &claire, "/console").await;
    assert_eq!(status, 403);
    assert!(page.contains("Console réservée"));

    let (status, location) = get(&app, &browser(), "/console").await;
    assert_eq!((status, location.as_str()), (303, "/login"));
}

#[tokio::test]
async fn a_security_officer_reads_the_partner_page_without_forms_and_cannot_post_them() {
    let app = spawn_without_mfa().await;
    let officer = signed_in(&app, NIORT_SECURITY, ADMIN_PASSWORD).await;
    let (status, page) = get(&app, &officer, "/console/partenaires/ville-de-niort").await;
    assert_eq!(status, 200);
    assert!(page.contains("Service instructeur RSA"));
    assert!(page.contains("sophie.lambert@niort.example"));
    assert!(!page.contains("Attribuer une habilitation"));
    assert!(!page.contains("Créer une personne"));
    assert!(!page.contains("Retirer la délégation"));

    // Another partner does not exist for them.
    let (status, _) = get(&app, &officer, "/console/partenaires/cc-pilat-rhodanien").await;
    assert_eq!(status, 404);
    let julien = app.account("julien.moreau@pilat-rhodanien.example").await;
    let (status, _) = get(&app, &officer, &format!("/console/personnes/{}", julien.id)).await;
    assert_eq!(status, 404);

    // A forged form is refused by the server, not only hidden.
    assert_eq!(
        page.matches("method=\"post\"").count(),
        1,
        "a read-only page has no form but the menu's logout"
    );
    let (_, tokens) = get(&app, &officer, "/console/jetons").await;
    let csrf = hidden(&tokens, "csrf").expect("the token page has a form");
    let response = officer
        .post(app.url("/console/partenaires/ville-de-niort/personnes"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "intrus@niort.example"),
            ("given_name", "In"),
            ("family_name", "Trus"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("sans les modifier"));
    assert!(
        app.state
            .stores
            .accounts
            .find_account_by_email(
                &passerelle::types::Email::parse("intrus@niort.example").unwrap()
            )
            .await
            .unwrap()
            .is_none()
    );

    // Without its CSRF token a form is refused before anything else.
    let response = officer
        .post(app.url("/console/partenaires/ville-de-niort/personnes"))
        .form(&[("email", "intrus@niort.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn the_caf_withdraws_and_restores_a_partners_delegation_from_the_console() {
    let app = spawn_without_mfa().await;
    let caf = signed_in(&app, "habilitations@caf79.example", ADMIN_PASSWORD).await;
    let (status, page) = get(&app, &caf, "/console/partenaires/ville-de-niort").await;
    assert_eq!(status, 200);
    assert!(page.contains("Retirer la délégation"));
    let csrf = hidden(&page, "csrf").unwrap();
    let post = |mode: &'static str, reason: &'static str| {
        caf.post(app.url("/console/conventions/mcp-79-niort/mode"))
            .form(&[("csrf", csrf.as_str()), ("mode", mode), ("reason", reason)])
            .send()
    };
    let response = post("centralise", "").await.unwrap();
    assert_eq!(response.status(), 422, "a reason is required");
    // Withdrawing the delegation asks for confirmation first, and changes nothing until then.
    let response = post("centralise", "Manquements constatés lors de l'audit")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let confirmation = response.text().await.unwrap();
    assert!(confirmation.contains("Vous allez retirer la délégation pour la convention MCP-079-"));
    assert!(confirmation.contains("name=\"confirme\" value=\"oui\""));
    let (_, page) = get(&app, &caf, "/console/partenaires/ville-de-niort").await;
    assert!(
        page.contains("Retirer la délégation"),
        "nothing changed yet"
    );
    let response = caf
        .post(app.url("/console/conventions/mcp-79-niort/mode"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("mode", "centralise"),
            ("reason", "Manquements constatés lors de l'audit"),
            ("confirme", "oui"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(location(&response).ends_with("?fait=mode#message"));
    let (_, page) = get(&app, &caf, "/console/partenaires/ville-de-niort?fait=mode").await;
    assert!(page.contains("Le mode de gestion a été changé."));
    assert!(page.contains("Rétablir la délégation"));
    // The history says it in a sentence, by name, with the reason.
    let history = &page[page.find("id=\"historique\"").unwrap()..];
    assert!(
        history.contains("Agnès Roux (responsable des habilitations de la Caf) a retiré la délégation pour la convention MCP-079-"),
        "the change is in the history: {history}"
    );
    assert!(
        history.contains("Manquements constatés lors de l&#39;audit")
            || history.contains("Manquements constatés lors de l'audit")
    );
    assert!(history.contains("heure de Paris"));
    assert!(
        !history.contains("convention.mode"),
        "no code in the sentence"
    );

    // The partner's administrator can no longer grant.
    let marc = signed_in(&app, NIORT_PRINCIPAL, ADMIN_PASSWORD).await;
    let (_, page) = get(&app, &marc, "/console/partenaires/ville-de-niort").await;
    assert!(!page.contains("Attribuer une habilitation"));

    let response = post("delegue", "Plan d'action mis en œuvre").await.unwrap();
    assert_eq!(response.status(), 303);
    let (_, page) = get(&app, &marc, "/console/partenaires/ville-de-niort").await;
    assert!(page.contains("Attribuer une habilitation"));
}

#[tokio::test]
async fn the_caf_registers_a_partner_and_a_convention_from_the_console() {
    let app = spawn_without_mfa().await;
    let caf = signed_in(&app, "habilitations@caf79.example", ADMIN_PASSWORD).await;
    let (_, home) = get(&app, &caf, "/console").await;
    assert!(home.contains("Enregistrer un partenaire"));
    let csrf = hidden(&home, "csrf").unwrap();
    let response = caf
        .post(app.url("/console/partenaires"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "CCAS de Niort"),
            ("id", "ccas-de-niort"),
            ("siret", "21790191700013"),
            ("caf", "79"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/console/partenaires/ccas-de-niort");
    let response = caf
        .post(app.url("/console/partenaires/ccas-de-niort/conventions"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("number", "MCP-079-2026-0201"),
            ("kind", "mon_compte_partenaire"),
            ("role", "cdap|T1"),
            ("role", "cdap|T4"),
            ("service", "demo-app"),
            ("starts_on", "2026-01-01"),
            ("mode", "centralise"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let (_, page) = get(&app, &caf, "/console/partenaires/ccas-de-niort").await;
    assert!(page.contains("MCP-079-2026-0201"));
    for shown in [
        "CDAP – Consultation du dossier allocataire par les partenaires : Action sociale (T1), Services instructeurs (T4)",
        "Application de démonstration (tous les rôles)",
    ] {
        assert!(
            page.contains(shown),
            "services by name, with the roles subscribed: {shown}"
        );
    }
    assert!(page.contains("centralisé"));

    // A partner administrator of Niort registers nothing and does not see the new partner.
    let marc = signed_in(&app, NIORT_PRINCIPAL, ADMIN_PASSWORD).await;
    let (_, home) = get(&app, &marc, "/console").await;
    assert!(!home.contains("Enregistrer un partenaire"));
    assert!(!home.contains("CCAS de Niort"));
}

/// The bulletin d'adhésion amended: the Caf adds a role to a convention (its quota can then be
/// set), and cannot drop one still held.
#[tokio::test]
async fn the_caf_amends_the_roles_a_convention_subscribes_to() {
    let app = spawn_without_mfa().await;
    let caf = signed_in(&app, "habilitations@caf79.example", ADMIN_PASSWORD).await;
    let (_, page) = get(&app, &caf, "/console/partenaires/ville-de-niort").await;
    assert!(page.contains("Modifier les rôles souscrits de la convention MCP-079-2023-0101"));
    let ticked = |page: &str, id: &str| {
        let at = page.find(&format!("id=\"{id}\"")).expect(id);
        let tag = &page[page[..at].rfind('<').unwrap()..at + page[at..].find('>').unwrap()];
        tag.contains("checked")
    };
    assert!(ticked(&page, "e-mcp-79-niort-cdap-T1"));
    assert!(!ticked(&page, "e-mcp-79-niort-cdap-T2"));
    assert!(
        ticked(&page, "e-mcp-79-niort-demo-app-utilisateur"),
        "a service opened without a list of roles has them all"
    );
    let csrf = hidden(&page, "csrf").unwrap();
    let post = |roles: &[&str]| {
        let mut form = vec![("csrf", csrf.clone())];
        form.extend(roles.iter().map(|r| ("role", (*r).to_owned())));
        caf.post(app.url("/console/conventions/mcp-79-niort/roles"))
            .form(&form)
            .send()
    };
    // Sophie holds T1: it cannot be dropped.
    let response = post(&["cdap|T4", "demo-app|utilisateur"]).await.unwrap();
    assert_eq!(response.status(), 422);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("Action sociale (T1)") && text.contains("encore attribué"),
        "{text}"
    );
    let response = post(&[]).await.unwrap();
    assert_eq!(response.status(), 422);

    let response = post(&["cdap|T1", "cdap|T2", "cdap|T4", "demo-app|utilisateur"])
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let (_, page) = get(&app, &caf, &location(&response)).await;
    assert!(page.contains("Les rôles souscrits de la convention sont enregistrés"));
    assert!(
        page.contains("Prestataires de services sociaux (T2)"),
        "{page}"
    );
    assert!(ticked(&page, "e-mcp-79-niort-cdap-T2"));
    let token = app.api_token("habilitations@caf79.example").await;
    let (status, problem) = app
        .api(
            reqwest::Method::PUT,
            "/api/v1/conventions/mcp-79-niort/quotas",
            &token,
            Some(serde_json::json!({ "service": "cdap", "role": "T2", "maximum": 2 })),
        )
        .await;
    assert_eq!(
        status, 204,
        "a role now subscribed takes a quota: {problem}"
    );
}

#[tokio::test]
async fn console_forms_are_typed_checked_before_use_and_refusals_read_as_sentences() {
    let app = spawn_without_mfa().await;
    let caf = signed_in(&app, "habilitations@caf79.example", ADMIN_PASSWORD).await;
    let (_, page) = get(&app, &caf, "/console/partenaires/ville-de-niort").await;
    let csrf = hidden(&page, "csrf").unwrap();
    let post =
        |path: &str, form: Vec<(&'static str, String)>| caf.post(app.url(path)).form(&form).send();
    // A value outside the form's choices is refused as a whole, and changes nothing.
    let response = post(
        "/console/conventions/mcp-79-niort/mode",
        vec![
            ("csrf", csrf.clone()),
            ("mode", "autogere".into()),
            ("reason", "Essai".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 422);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Formulaire incomplet")
    );
    let (_, page) = get(&app, &caf, "/console/partenaires/ville-de-niort").await;
    assert!(page.contains("Retirer la délégation"), "still delegated");
    // A forged token stops the request before the form is read: the same form, well formed,
    // changes nothing either.
    let response = post(
        "/console/conventions/mcp-79-niort/mode",
        vec![
            ("csrf", format!("{csrf}x")),
            ("mode", "centralise".into()),
            ("reason", "Essai".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("Page expirée"));
    let (_, page) = get(&app, &caf, "/console/partenaires/ville-de-niort").await;
    assert!(page.contains("Retirer la délégation"), "still delegated");
    // Repeated fields arrive whole: a convention opening two services.
    let response = post(
        "/console/partenaires/ville-de-niort/conventions",
        vec![
            ("csrf", csrf.clone()),
            ("number", "MCP-079-2026-0099".into()),
            ("kind", "mon_compte_partenaire".into()),
            ("service", "cdap".into()),
            ("service", "demo-app".into()),
            ("starts_on", "2026-01-01".into()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 303);
    let convention = app
        .state
        .stores
        .habilitations
        .find_convention_by_number("MCP-079-2026-0099")
        .await
        .unwrap()
        .expect("the convention is recorded");
    assert_eq!(convention.services.len(), 2);
    // Something out of reach is "not found", in a sentence.
    let (status, page) = get(
        &app,
        &caf,
        "/console/groupes/00000000-0000-4000-8000-000000000000",
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        page.contains("Le groupe est introuvable, ou ne fait pas partie de ce que vous gérez."),
        "{page}"
    );
}

#[tokio::test]
async fn the_history_says_who_did_what_to_whom_by_name() {
    let app = spawn_without_mfa().await;
    let marc = signed_in(&app, NIORT_PRINCIPAL, ADMIN_PASSWORD).await;
    let (_, page) = get(&app, &marc, "/console/partenaires/ville-de-niort").await;
    let history = &page[page.find("id=\"historique\"").unwrap()..];
    for sentence in [
        "a ajouté <a href=\"/console/personnes/",
        "au groupe « <a href=\"/console/groupes/",
        "a attribué à <a href=\"/console/personnes/",
        "le rôle « Action sociale » du service CDAP",
        "Le provisionnement (fichier de l&#39;exploitant)",
        "(administrateur principal) a terminé la revue annuelle des habilitations.",
    ] {
        let sentence = sentence.replace("&#39;", "'");
        assert!(
            history.contains(&sentence) || history.contains(&sentence.replace('\'', "&#39;")),
            "{sentence} in {history}"
        );
    }
    for code in [
        "habilitation.grant",
        "group.add_member",
        "habilitation:",
        "account:",
    ] {
        assert!(!history.contains(code), "{code} shown in {history}");
    }
}

#[tokio::test]
async fn destructive_actions_ask_for_confirmation_and_the_result_takes_the_focus() {
    let app = spawn_without_mfa().await;
    let caf = signed_in(&app, "habilitations@caf79.example", ADMIN_PASSWORD).await;
    let sophie = app.account("sophie.lambert@niort.example").await;
    let path = format!("/console/personnes/{}", sophie.id);
    let (_, page) = get(&app, &caf, &path).await;
    let csrf = hidden(&page, "csrf").unwrap();
    let suspend = |confirm: bool| {
        let mut form = vec![
            ("csrf", csrf.clone()),
            ("action", "suspend".to_owned()),
            ("reason", "Absence prolongée".to_owned()),
        ];
        if confirm {
            form.push(("confirme", "oui".to_owned()));
        }
        caf.post(app.url(&format!("{path}/compte")))
            .form(&form)
            .send()
    };
    let response = suspend(false).await.unwrap();
    assert_eq!(response.status(), 200);
    let confirmation = response.text().await.unwrap();
    assert!(confirmation.contains(
        "Vous allez suspendre le compte de Sophie Lambert (sophie.lambert@niort.example)"
    ));
    assert!(confirmation.contains("Motif : Absence prolongée"));
    assert!(
        confirmation.contains(&format!("href=\"{path}\"")),
        "a way back"
    );
    assert!(
        app.account("sophie.lambert@niort.example")
            .await
            .is_usable(),
        "nothing changed before confirmation"
    );
    let response = suspend(true).await.unwrap();
    assert_eq!(response.status(), 303);
    let back = location(&response);
    assert_eq!(back, format!("{path}?fait=compte-suspendu#message"));
    assert!(
        !app.account("sophie.lambert@niort.example")
            .await
            .is_usable()
    );
    let (_, page) = get(&app, &caf, &back).await;
    assert!(
        page.contains("id=\"message\" role=\"status\" tabindex=\"-1\" autofocus"),
        "the result is focused at the top"
    );
    // A missing reason is said at once, not after a confirmation.
    let response = caf
        .post(app.url(&format!("{path}/compte")))
        .form(&[("csrf", csrf.as_str()), ("action", "close")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn a_person_page_shows_access_and_the_administrator_unlocks_ends_sessions_and_resends() {
    let app = spawn_without_mfa().await;
    let sophie = app.account("sophie.lambert@niort.example").await;
    // Sophie logs in once, then someone fails ten times with her address: she is locked.
    let _session = signed_in(&app, "sophie.lambert@niort.example", PASSWORD).await;
    for _ in 0..10 {
        app.submit_login(
            &browser(),
            "/login",
            "sophie.lambert@niort.example",
            "Pas-Le-Bon-1!",
        )
        .await;
    }
    let marc = signed_in(&app, NIORT_PRINCIPAL, ADMIN_PASSWORD).await;
    let path = format!("/console/personnes/{}", sophie.id);
    let (_, page) = get(&app, &marc, &path).await;
    let access = &page[page.find("id=\"acces\"").unwrap()..];
    assert!(access.contains("Dernière connexion réussie"));
    assert!(
        !access.contains("<dd>aucune</dd>"),
        "her login is known: {access}"
    );
    assert!(access.contains("verrouillé</strong> jusqu"), "{access}");
    assert!(access.contains("ouverte le "), "her open session: {access}");
    let csrf = hidden(&page, "csrf").unwrap();
    let act = |action: &'static str| {
        marc.post(app.url(&format!("{path}/acces")))
            .form(&[("csrf", csrf.as_str()), ("action", action)])
            .send()
    };
    assert_eq!(act("unlock").await.unwrap().status(), 303);
    app.assert_logs_in("sophie.lambert@niort.example", PASSWORD)
        .await;
    assert_eq!(act("end_sessions").await.unwrap().status(), 303);
    let (_, page) = get(&app, &marc, &format!("{path}?fait=sessions")).await;
    let access = &page[page.find("id=\"acces\"").unwrap()..];
    assert!(access.contains("non verrouillé"));
    assert!(
        !access.contains("ouverte le "),
        "every session ended: {access}"
    );
    let (_, partner) = get(&app, &marc, "/console/partenaires/ville-de-niort").await;
    assert!(partner.contains("a déverrouillé le compte de"));
    assert!(partner.contains("a mis fin aux sessions de"));
    // An activated account gets no new activation link.
    let response = act("resend_activation").await.unwrap();
    assert_eq!(response.status(), 409);
}

#[tokio::test]
async fn row_buttons_name_the_habilitation_they_act_on() {
    let app = spawn_without_mfa().await;
    let marc = signed_in(&app, NIORT_PRINCIPAL, ADMIN_PASSWORD).await;
    let (_, page) = get(&app, &marc, "/console/partenaires/ville-de-niort").await;
    assert!(
        page.contains("Suspendre<span class=\"sr-only\"> Action sociale (T1) du service CDAP – Consultation du dossier allocataire par les partenaires, de Sophie Lambert</span>"),
        "{page}"
    );
    assert!(page.contains("Motif pour Services instructeurs (T4) du service CDAP – Consultation du dossier allocataire par les partenaires, du groupe Service instructeur RSA"));
}

#[tokio::test]
async fn tout_confirmer_confirms_every_habilitation_not_withdrawn() {
    let app = spawn_without_mfa().await;
    let marc = signed_in(&app, NIORT_PRINCIPAL, ADMIN_PASSWORD).await;
    let (_, page) = get(&app, &marc, "/console/partenaires/ville-de-niort").await;
    let csrf = hidden(&page, "csrf").unwrap();
    let response = marc
        .post(app.url("/console/partenaires/ville-de-niort/revues"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let review_path = location(&response);
    let (_, page) = get(&app, &marc, &review_path).await;
    assert!(page.contains("Tout confirmer"));
    assert!(
        page.contains("Décision pour Action sociale (T1) du service CDAP – Consultation du dossier allocataire par les partenaires, de Sophie Lambert"),
        "each decision names the person: {page}"
    );
    // Withdraw one, confirm all the others at once.
    let withdrawn = hidden_radio_name(&page);
    let response = marc
        .post(app.url(&review_path))
        .form(&[
            ("csrf", csrf.as_str()),
            (withdrawn.as_str(), "withdraw"),
            ("action", "confirm_all"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let niort = passerelle::types::PartnerId::parse("ville-de-niort").unwrap();
    let review = app
        .state
        .stores
        .habilitations
        .reviews_of_partner(&niort)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.completed_at.is_none())
        .unwrap();
    let open = app
        .state
        .stores
        .habilitations
        .habilitations_of_partner(&niort)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.status != passerelle::store::HabilitationStatus::Closed)
        .count();
    assert_eq!(review.decisions.len(), open, "every habilitation decided");
    let withdrawals = review
        .decisions
        .values()
        .filter(|d| **d == passerelle::store::ReviewDecision::Withdraw)
        .count();
    assert_eq!(withdrawals, 1, "the one withdrawn stays withdrawn");
}

/// The name of the first decision's radio group (`d-<habilitation id>`).
fn hidden_radio_name(page: &str) -> String {
    let start = page.find("name=\"d-").expect("a decision") + "name=\"".len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].to_owned()
}

/// The search finds people, partners and habilitations by name in the officer's reach; a
/// suspended person's habilitations read as without effect; closed ones sit apart.
#[tokio::test]
async fn the_search_finds_by_name_and_says_what_gives_no_access() {
    let app = spawn_without_mfa().await;
    let caf = signed_in(&app, "habilitations@caf79.example", ADMIN_PASSWORD).await;
    let (status, page) = get(&app, &caf, "/console/recherche?q=H%C3%A9l%C3%A8ne").await;
    assert_eq!(status, 200);
    assert!(page.contains("Faure Hélène"), "{page}");
    assert!(page.contains("helene.faure@niort.example"));
    // Outside the Caf's reach: Pilat Rhodanien's people are not found.
    let (_, page) = get(&app, &caf, "/console/recherche?type=personnes&q=julien").await;
    assert!(page.contains("Aucune personne ne correspond."), "{page}");
    // Filters, sort and pages.
    let (_, page) = get(
        &app,
        &caf,
        "/console/recherche?type=personnes&sort=email&order=desc&limit=2",
    )
    .await;
    assert!(page.contains("aria-sort=\"descending\""));
    let next = page
        .split("href=\"")
        .find_map(|s| {
            let link = &s[..s.find('"').unwrap()];
            (s[s.find('>').unwrap() + 1..].starts_with("Page suivante"))
                .then(|| link.replace("&amp;", "&"))
        })
        .expect("a next page");
    let (status, second) = get(&app, &caf, &next).await;
    assert_eq!(status, 200);
    assert!(second.contains("Première page"));
    let (status, page) = get(
        &app,
        &caf,
        "/console/recherche?type=habilitations&limit=douze",
    )
    .await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("nombre entier"), "{page}");

    // Sophie suspended: her habilitations are kept, marked as without effect.
    let sophie = app.account(SOPHIE).await;
    let actor = passerelle::habilitations::Actor::load(
        &app.state,
        &app.account("habilitations@caf79.example").await.id,
    )
    .await
    .unwrap();
    passerelle::habilitations::manage::suspend_person(
        &app.state,
        &actor,
        &sophie.id,
        true,
        Some("enquête"),
    )
    .await
    .unwrap();
    let (_, page) = get(&app, &caf, "/console/recherche?type=habilitations&q=sophie").await;
    assert!(page.contains("Lambert Sophie"));
    assert!(
        page.contains("sans effet : le compte du titulaire est suspendu ou fermé"),
        "{page}"
    );
    let (_, page) = get(&app, &caf, &format!("/console/personnes/{}", sophie.id)).await;
    assert!(page.contains("ses habilitations restent enregistrées mais sont sans effet"));

    // A withdrawn habilitation leaves the current table for the one apart.
    let h = app
        .state
        .stores
        .habilitations
        .habilitations_of_account(&sophie.id)
        .await
        .unwrap()
        .remove(0);
    let marc =
        passerelle::habilitations::Actor::load(&app.state, &app.account(NIORT_PRINCIPAL).await.id)
            .await
            .unwrap();
    passerelle::habilitations::manage::change_status(
        &app.state,
        &marc,
        &h.id,
        passerelle::habilitations::manage::StatusChange::Close,
        Some("départ"),
    )
    .await
    .unwrap();
    let (_, page) = get(&app, &caf, "/console/partenaires/ville-de-niort").await;
    let apart = &page[page
        .find("Habilitations retirées (")
        .expect("closed ones apart")..];
    assert!(apart.contains("Sophie Lambert"), "{apart}");
}

/// A person at an address that looks shared is created only once the administrator confirms
/// it names one person; the confirmation keeps what was typed.
#[tokio::test]
async fn a_shared_address_asks_for_confirmation_in_the_console() {
    let app = spawn_without_mfa().await;
    let marc = signed_in(&app, NIORT_PRINCIPAL, ADMIN_PASSWORD).await;
    let (_, page) = get(&app, &marc, "/console/partenaires/ville-de-niort").await;
    let csrf = hidden(&page, "csrf").unwrap();
    let response = marc
        .post(app.url("/console/partenaires/ville-de-niort/personnes"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "accueil@niort.example"),
            ("given_name", "Inès"),
            ("family_name", "Accueil"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let confirmation = response.text().await.unwrap();
    assert!(confirmation.contains("accueil@niort.example"));
    assert!(confirmation.contains("Un compte Passerelle est nominatif"));
    let fields = hidden_fields(&confirmation);
    assert!(
        fields.contains(&("given_name".to_owned(), "Inès".to_owned())),
        "{fields:?}"
    );
    assert!(
        app.state
            .stores
            .accounts
            .find_account_by_email(
                &passerelle::types::Email::parse("accueil@niort.example").unwrap()
            )
            .await
            .unwrap()
            .is_none(),
        "nothing created before confirmation"
    );
    let response = marc
        .post(app.url("/console/partenaires/ville-de-niort/personnes"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.account("accueil@niort.example")
            .await
            .profile
            .given_name,
        "Inès"
    );
}

/// Least privilege from the convention: only the roles it subscribes to can be granted (or
/// given a quota), and in delegated mode a role the Caf set no maximum for cannot be granted;
/// the console offers only what can be granted and says why the rest cannot.
#[tokio::test]
async fn only_subscribed_roles_with_a_quota_can_be_granted_in_delegated_mode() {
    use reqwest::Method;
    use serde_json::json;
    let app = spawn_without_mfa().await;
    let marc = app.api_token(NIORT_PRINCIPAL).await;
    let caf = app.api_token("habilitations@caf79.example").await;
    let paul = app
        .account("paul.martin@niort.example")
        .await
        .id
        .to_string();
    let grant = |role: &'static str| {
        let (app, marc, paul) = (&app, &marc, &paul);
        async move {
            app.api(
                Method::POST,
                "/api/v1/partners/ville-de-niort/habilitations",
                marc,
                Some(json!({ "account": paul, "service": "cdap", "role": role, "reason": "test" })),
            )
            .await
        }
    };
    // T2 is not in Niort's bulletin d'adhésion (T1 and T4 only).
    let (status, problem) = grant("T2").await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("n'y a pas souscrit"),
        "{problem}"
    );
    let (status, problem) = app
        .api(
            Method::PUT,
            "/api/v1/conventions/mcp-79-niort/quotas",
            &caf,
            Some(json!({ "service": "cdap", "role": "T2", "maximum": 2 })),
        )
        .await;
    assert_eq!(status, 422, "no quota for a role not subscribed: {problem}");

    // Without a maximum set by the Caf, T4 cannot be granted in delegated mode.
    let (status, _) = app
        .api(
            Method::PUT,
            "/api/v1/conventions/mcp-79-niort/quotas",
            &caf,
            Some(json!({ "service": "cdap", "role": "T4", "maximum": null, "reason": "revue des quotas" })),
        )
        .await;
    assert_eq!(status, 204);
    let (status, problem) = grant("T4").await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("n'a pas fixé le nombre maximal"),
        "{problem}"
    );
    let (status, _) = grant("T1").await;
    assert_eq!(status, 201, "a subscribed role with a quota is granted");

    // The console offers neither T2 nor T4, and says why T4 waits.
    let browser = signed_in(&app, NIORT_PRINCIPAL, ADMIN_PASSWORD).await;
    let (_, page) = get(&app, &browser, "/console/partenaires/ville-de-niort").await;
    assert!(!page.contains("value=\"cdap|T2\""));
    assert!(!page.contains("value=\"cdap|T4\""));
    assert!(page.contains("value=\"cdap|T1\""));
    assert!(page.contains("faute de nombre maximal fixé par la Caf"));
    assert!(
        page.contains("Action sociale (T1), Services instructeurs (T4)"),
        "the subscription is shown"
    );
}

/// What the agents of a centralized partner and the Caf meet around a suspension: a quota
/// cannot go below its holders, a refusal page points back to the form it came from, the
/// partner asks the Caf to lift a suspension (and the suspended person is told whom to ask),
/// and the console's menu logs out.
#[tokio::test]
async fn refusals_point_back_and_a_centralized_partner_asks_to_lift_a_suspension() {
    let app = spawn_without_mfa().await;
    let caf = signed_in(&app, "habilitations@caf79.example", ADMIN_PASSWORD).await;
    let partner_page = "/console/partenaires/ville-de-niort";
    let (_, page) = get(&app, &caf, partner_page).await;
    let csrf = hidden(&page, "csrf").unwrap();

    // Sophie holds T1 (quota 4): the maximum cannot be set to 0; the page says how to go back.
    let response = caf
        .post(app.url("/console/conventions/mcp-79-niort/quota"))
        .header("referer", app.url(partner_page))
        .form(&[
            ("csrf", csrf.as_str()),
            ("service_role", "mcp-79-niort|cdap|T1"),
            ("maximum", "0"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let text = response.text().await.unwrap();
    assert!(text.contains("ne peut pas être inférieur"), "{text}");
    assert!(
        text.contains(&format!("href=\"{partner_page}\"")) && text.contains("Retour"),
        "a way back to the form, its input kept by the browser: {text}"
    );

    // Centralized, then Paul suspended by the Caf.
    let officer = passerelle::habilitations::Actor::load(
        &app.state,
        &app.account("habilitations@caf79.example").await.id,
    )
    .await
    .unwrap();
    passerelle::habilitations::manage::switch_mode(
        &app.state,
        &officer,
        &passerelle::types::ConventionId::parse("mcp-79-niort").unwrap(),
        passerelle::store::HabilitationMode::Centralized,
        Some("plan d'action"),
    )
    .await
    .unwrap();
    let paul = app.account("paul.martin@niort.example").await;
    passerelle::habilitations::manage::suspend_person(
        &app.state,
        &officer,
        &paul.id,
        true,
        Some("vérification"),
    )
    .await
    .unwrap();
    // Paul is told whom to ask — the same people his mail names — and how to go back.
    let response = app
        .submit_login(&browser(), "/login", "paul.martin@niort.example", PASSWORD)
        .await;
    assert_eq!(response.status(), 403);
    let blocked = response.text().await.unwrap();
    assert!(blocked.contains("Marc Rousseau"), "{blocked}");
    assert!(blocked.contains("href=\"/login\""));

    // Marc, who cannot lift it himself any more, asks the Caf; the Caf accepts.
    let marc = signed_in(&app, NIORT_PRINCIPAL, ADMIN_PASSWORD).await;
    let person_page = format!("/console/personnes/{}", paul.id);
    let (_, page) = get(&app, &marc, &person_page).await;
    assert!(
        page.contains("Demander à la Caf de réactiver le compte"),
        "{page}"
    );
    let marc_csrf = hidden(&page, "csrf").unwrap();
    let response = marc
        .post(app.url("/console/partenaires/ville-de-niort/demandes"))
        .form(&[
            ("csrf", marc_csrf.as_str()),
            ("kind", "reactivate_account"),
            ("account", paul.id.as_str()),
            ("reason", "vérification faite"),
            ("back", person_page.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let (_, queue) = get(&app, &caf, "/console/demandes").await;
    assert!(
        queue.contains("réactiver le compte de Paul Martin"),
        "{queue}"
    );
    let request = app
        .state
        .stores
        .habilitations
        .requests_of_partner(
            &passerelle::types::PartnerId::parse("ville-de-niort").unwrap(),
            5,
        )
        .await
        .unwrap()
        .remove(0);
    passerelle::habilitations::manage::decide_request(
        &app.state,
        &officer,
        &request.id,
        true,
        None,
    )
    .await
    .unwrap();
    assert!(app.account("paul.martin@niort.example").await.is_usable());
    assert!(
        app.mails_to(NIORT_PRINCIPAL)
            .iter()
            .any(|m| m.subject == "Votre demande à la Caf est acceptée"
                && m.text.contains("de réactiver le compte")
                && m.text.contains("habilitations@caf79.example")),
        "the decision names whom to write to"
    );

    // The menu logs out.
    let (_, home) = get(&app, &marc, "/console").await;
    assert!(home.contains("action=\"/logout\""));
    let response = marc
        .post(app.url("/logout"))
        .form(&[("csrf", hidden(&home, "csrf").unwrap().as_str())])
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success() || response.status().is_redirection());
    let response = marc.get(app.url("/console")).send().await.unwrap();
    assert_eq!(
        response.status(),
        303,
        "logged out, the console asks for a login"
    );
}

/// A trace search the officer can correct is answered on the search page itself, the form as
/// they filled it; the Caf's officer finds the Caf's own staff by name.
#[tokio::test]
async fn a_trace_search_to_correct_stays_on_its_page() {
    let app = spawn_without_mfa().await;
    let officer = signed_in(&app, NIORT_SECURITY, ADMIN_PASSWORD).await;
    let (status, page) = get(&app, &officer, "/console/traces?search=1&person=niort").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Plusieurs personnes répondent à « niort »"),
        "{page}"
    );
    assert!(
        page.contains("value=\"niort\""),
        "the form keeps what was typed"
    );
    let (status, page) = get(
        &app,
        &officer,
        "/console/traces?search=1&from=2026-12-02&to=2026-11-30",
    )
    .await;
    assert_eq!(status, 200);
    assert!(page.contains("inversez-les"), "{page}");
    let caf = signed_in(&app, "rssi@caf79.example", ADMIN_PASSWORD).await;
    let (_, page) = get(&app, &caf, "/console/traces?search=1&person=Le+Goff").await;
    assert!(!page.contains("role=\"alert\""), "{page}");
    assert!(
        page.contains("Yann Le Goff"),
        "the Caf's own staff, found by name: {page}"
    );
}
