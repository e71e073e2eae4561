//! Annexe 1 round trip: the partner's list imported as text (dry run first, then applied),
//! exported as CSV, and the export imported again changes nothing.

use crate::helpers::*;
use serde_json::Value;

const ADMIN: &str = "responsable@roumois-seine.example";

const SETUP: &str = r#"
[[account]]
email = "responsable@roumois-seine.example"
given_name = "Rémi"
family_name = "Responsable"
partner = "cc-roumois-seine"
admin_roles = ["partner_administrator"]
password = "Demo-Passerelle-Admin-2026!"

[[account]]
email = "paul.bernard@roumois-seine.example"
given_name = "Paul"
family_name = "Bernard"
partner = "cc-roumois-seine"
habilitations = [{ service = "cooperation", role = "contributeur" }]
"#;

/// In the annex's own words (the seed agreements' layout), with fictional people.
const ANNEX: &str = "ANNEXE 1 : Suivi des habilitations

Date de transmission : 01/10/2026

1 - Liste des personnes pour lesquelles un nouvel accès est demandé ou qui ont un accès ouvert

- Madame Camille POLLET, camille.pollet@roumois-seine.example, Directrice générale adjointe des services
DUBOIS Claire ; claire.dubois@roumois-seine.example ; Chargée de coopération CTG ; 01/01/2024
LEROY Aurélie ; aurelie.leroy@roumois-seine.example ; Chargée de coopération petite enfance ; 15/09/2026

2 - Liste des personnes pour lesquelles une clôture de l'accès est demandée ou qui ont un accès clôturé depuis moins de 2 ans
";

async fn import(app: &TestApp, token: &str, text: &str, apply: bool) -> (u16, Value) {
    let response = app
        .api
        .post(app.url(&format!(
            "/api/v1/partners/cc-roumois-seine/annexe1?service=cooperation&role=contributeur{}",
            if apply { "&apply=true" } else { "" }
        )))
        .bearer_auth(token)
        .header("content-type", "text/plain; charset=utf-8")
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn emails(list: &Value) -> Vec<String> {
    let mut emails: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    emails
}

#[tokio::test]
async fn an_annex_is_planned_applied_exported_and_reimported_without_change() {
    let app = TestApp::spawn().await;
    let file = passerelle::provision::parse(SETUP, "test").unwrap();
    passerelle::provision::apply(&app.state, &file, true)
        .await
        .unwrap();
    let token = app.api_token(ADMIN).await;

    // Dry run: the plan, and nothing written.
    let (status, dry) = import(&app, &token, ANNEX, false).await;
    assert_eq!(status, 200, "{dry}");
    let plan = &dry["plan"];
    assert_eq!(
        emails(&plan["create"]),
        [
            "aurelie.leroy@roumois-seine.example",
            "camille.pollet@roumois-seine.example"
        ]
    );
    assert_eq!(
        emails(&plan["keep"]),
        ["claire.dubois@roumois-seine.example"]
    );
    assert_eq!(
        emails(&plan["close"]),
        ["paul.bernard@roumois-seine.example"]
    );
    assert_eq!(plan["close"][0]["why"], "absent");
    assert_eq!(plan["errors"], serde_json::json!([]));
    // In file order: "Madame Camille POLLET", then "LEROY Aurélie".
    assert_eq!(plan["create"][0]["family_name"], "POLLET");
    assert_eq!(plan["create"][0]["given_name"], "Camille");
    assert_eq!(plan["create"][0]["civility"], "Mme");
    assert_eq!(plan["create"][1]["family_name"], "LEROY");
    assert_eq!(plan["create"][1]["given_name"], "Aurélie");
    assert!(
        app.mails_to("camille.pollet@roumois-seine.example")
            .is_empty()
    );

    // Applied: accounts with activation mails, habilitations, the absent one closed.
    let (status, done) = import(&app, &token, ANNEX, true).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["applied"]["created"], 2);
    assert_eq!(done["applied"]["closed"], 1);
    let mail = app
        .mails_to("camille.pollet@roumois-seine.example")
        .pop()
        .expect("an activation mail");
    assert_eq!(mail.subject, "Activez votre compte Passerelle");

    // Exported as CSV: three open accesses, one closed less than two years ago.
    let response = app
        .api
        .get(app.url("/api/v1/partners/cc-roumois-seine/annexe1?service=cooperation&format=csv"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = response.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[0].contains("liste;civilité;nom;prénom;email"));
    assert_eq!(lines.iter().filter(|l| l.starts_with("ouvert;")).count(), 3);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("clôturé;") && l.contains("paul.bernard@"))
    );

    // Imported again, the export changes nothing.
    let (status, again) = import(&app, &token, &csv, false).await;
    assert_eq!(status, 200, "{again}");
    let plan = &again["plan"];
    assert_eq!(plan["create"], serde_json::json!([]));
    assert_eq!(plan["grant"], serde_json::json!([]));
    assert_eq!(plan["close"], serde_json::json!([]));
    assert_eq!(plan["keep"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn an_annex_with_errors_lists_them_by_line_and_cannot_be_applied() {
    let app = TestApp::spawn().await;
    let file = passerelle::provision::parse(SETUP, "test").unwrap();
    passerelle::provision::apply(&app.state, &file, true)
        .await
        .unwrap();
    let token = app.api_token(ADMIN).await;
    let text = "DUBOIS Claire ; claire.dubois@roumois-seine.example ; CTG\n\
                MARTIN Léa ; lea.martin@ ; Stagiaire\n\
                DUBOIS Claire ; claire.dubois@roumois-seine.example ; CTG\n\
                Jean Dupont ; jean.dupont@roumois-seine.example ; Agent\n\
                SOPHIE Lambert ; sophie.lambert@niort.example ; Agent ; 31/02/2026\n";
    let (status, dry) = import(&app, &token, text, false).await;
    assert_eq!(status, 200);
    let errors: Vec<(u64, String)> = dry["plan"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let lines: Vec<u64> = errors.iter().map(|e| e.0).collect();
    assert_eq!(lines, [2, 4, 5, 3], "{errors:?}");
    assert!(errors[0].1.contains("adresse"));
    assert!(errors[1].1.contains("capitales"));
    assert!(errors[2].1.contains("date"));
    assert!(errors[3].1.contains("deux fois"));

    let (status, refused) = import(&app, &token, text, true).await;
    assert_eq!(status, 422, "{refused}");
    assert!(app.mails_to("lea.martin@roumois-seine.example").is_empty());

    // An address of another partner is refused even when well formed.
    let (_, dry) = import(
        &app,
        &token,
        "LAMBERT Sophie ; sophie.lambert@niort.example ; Agent\n",
        false,
    )
    .await;
    let message = dry["plan"]["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("ne peut pas être retenue"), "{message}");
    assert!(
        !message.contains("autre") && !message.contains("Niort"),
        "the plan does not reveal an account elsewhere: {message}"
    );
}

/// The annexes of the seed agreements, as their partners wrote them (`tests/fixtures`), import
/// unchanged: seed 000's lines separate fields by commas and a job title holds one; seed 004's
/// give a service's address, refused until the sender confirms it names one person.
#[tokio::test]
async fn the_seed_annexes_import_unchanged() {
    let app = TestApp::spawn().await;
    let setup = format!(
        "{SETUP}
[[account]]
email = \"richard.mazoyer@mouries.example\"
given_name = \"Richard\"
family_name = \"Mazoyer\"
partner = \"commune-de-mouries\"
admin_roles = [\"partner_administrator\"]
password = \"Demo-Passerelle-Admin-2026!\"
"
    );
    let file = passerelle::provision::parse(&setup, "test").unwrap();
    passerelle::provision::apply(&app.state, &file, true)
        .await
        .unwrap();

    let roumois = app.api_token(ADMIN).await;
    let seed_000 = include_str!("../fixtures/annexe1-seed-000.txt");
    let (status, dry) = import(&app, &roumois, seed_000, false).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["plan"]["errors"], serde_json::json!([]), "{dry}");
    assert_eq!(
        emails(&dry["plan"]["create"]),
        [
            "a.gaillard@roumoiseine.fr",
            "a.leroy@roumoiseine.fr",
            "c.pollet@roumoiseine.fr",
            "v.pilon@roumoiseine.fr"
        ]
    );
    let pilon = dry["plan"]["create"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "v.pilon@roumoiseine.fr")
        .unwrap();
    assert_eq!(
        pilon["function"],
        "Chargée de coopération continuité éducative, santé et handicap"
    );
    assert_eq!(pilon["family_name"], "PILON");
    assert_eq!(pilon["civility"], "Mme");
    let gaillard = dry["plan"]["create"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "a.gaillard@roumoiseine.fr")
        .unwrap();
    assert_eq!(gaillard["family_name"], "GAILLARD PRADOS-ESPADA");
    let (status, applied) = import(&app, &roumois, seed_000, true).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["applied"]["created"], 4);

    // Seed 004: one person, at a service's address.
    let mouries = app.api_token("richard.mazoyer@mouries.example").await;
    let seed_004 = include_str!("../fixtures/annexe1-seed-004.txt");
    let call = |named: bool, apply: bool| {
        let app = &app;
        let token = mouries.clone();
        async move {
            let response = app
                .api
                .post(app.url(&format!(
                    "/api/v1/partners/commune-de-mouries/annexe1?service=cooperation&role=contributeur{}{}",
                    if named { "&named_people=true" } else { "" },
                    if apply { "&apply=true" } else { "" }
                )))
                .bearer_auth(&token)
                .header("content-type", "text/plain; charset=utf-8")
                .body(seed_004)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, dry) = call(false, false).await;
    assert_eq!(status, 200);
    assert_eq!(
        dry["plan"]["shared_addresses"],
        serde_json::json!(["service.jeunesse@mairie-mouries.fr"])
    );
    let error = &dry["plan"]["errors"][0];
    assert_eq!(error["line"], 8, "{dry}");
    assert!(error["message"].as_str().unwrap().contains("nominatif"));
    let (status, _) = call(false, true).await;
    assert_eq!(status, 422, "not applied unconfirmed");
    assert!(
        app.mails_to("service.jeunesse@mairie-mouries.fr")
            .is_empty()
    );
    let (status, applied) = call(true, true).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["applied"]["created"], 1);
    let gonda = app.account("service.jeunesse@mairie-mouries.fr").await;
    assert_eq!(gonda.profile.family_name, "GONDA");
    assert_eq!(
        gonda.profile.function.as_deref(),
        Some("Responsable Jeunesse")
    );
    assert_eq!(app.mails_to("service.jeunesse@mairie-mouries.fr").len(), 1);
}

/// Creating a person at an address that looks shared is refused until confirmed, in the API
/// (`named_person`) and in the console (a confirmation page that keeps what was typed).
#[tokio::test]
async fn a_shared_address_is_refused_until_confirmed() {
    let app = TestApp::spawn().await;
    let file = passerelle::provision::parse(SETUP, "test").unwrap();
    passerelle::provision::apply(&app.state, &file, true)
        .await
        .unwrap();
    let token = app.api_token(ADMIN).await;
    let create = |body: Value| {
        let (app, token) = (&app, &token);
        async move {
            app.api(
                reqwest::Method::POST,
                "/api/v1/partners/cc-roumois-seine/accounts",
                token,
                Some(body),
            )
            .await
        }
    };
    let shared = |named: bool| {
        serde_json::json!({
            "email": "accueil@roumois-seine.example", "given_name": "Lise",
            "family_name": "Accueil", "named_person": named
        })
    };
    let (status, problem) = create(shared(false)).await;
    assert_eq!(status, 422);
    assert_eq!(problem["code"], "shared_address", "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("nominatif"));
    assert_eq!(create(shared(true)).await.0, 201);
    // A personal address is not mistaken for a shared one.
    let personal = serde_json::json!({
        "email": "servane.contact@roumois-seine.example", "given_name": "Servane",
        "family_name": "Contact"
    });
    assert_eq!(create(personal).await.0, 201);
}
