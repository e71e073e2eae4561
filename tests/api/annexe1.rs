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
