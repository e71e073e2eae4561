//! Provisioning is declarative and idempotent, validates the whole file before writing, and
//! names the entry at fault.

use crate::helpers::*;
use passerelle::provision::{self, ProvisionError};
use passerelle::types::CafCode;

async fn apply(
    app: &TestApp,
    text: &str,
    allow_passwords: bool,
) -> Result<provision::Report, ProvisionError> {
    let file = provision::parse(text, "test")?;
    provision::apply(&app.state, &file, allow_passwords).await
}

fn message(result: Result<provision::Report, ProvisionError>) -> String {
    match result {
        Err(ProvisionError::Invalid(m)) => m,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn applying_the_demo_twice_changes_nothing() {
    let app = TestApp::spawn().await;
    let report = apply(&app, passerelle::cli::DEMO_PROVISIONING, true)
        .await
        .unwrap();
    assert_eq!(
        (report.created, report.updated, report.passwords_set),
        (0, 0, 0),
        "{report}"
    );
    assert!(report.unchanged > 10);
}

#[tokio::test]
async fn a_changed_entry_is_updated_in_place() {
    let app = TestApp::spawn().await;
    let report = apply(
        &app,
        "[[caf]]\ncode = \"27\"\nname = \"Caf de l'Eure (Évreux)\"\n",
        false,
    )
    .await
    .unwrap();
    assert_eq!(report.updated, 1);
    let caf = app
        .state
        .stores
        .organisations
        .get_caf(&CafCode::parse("27").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(caf.name, "Caf de l'Eure (Évreux)");
}

#[tokio::test]
async fn invalid_files_are_refused_whole_with_the_entry_named() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            "[[caf]]\ncode = \"99\"\nname = \"Caf test\"\n[[partner]]\nid = \"p\"\ncaf = \"98\"\nname = \"P\"\n",
            "partner `p`: Caf `98`",
        ),
        (
            "[[partner]]\nid = \"p\"\ncaf = \"27\"\nname = \"P\"\nsiret = \"21790191700014\"\n",
            "Luhn",
        ),
        (
            "[[service]]\nclient_id = \"s\"\nname = \"S\"\ntype = \"confidential\"\nsecret = \"short\"\nredirect_uris = [\"https://s.example/cb\"]\n",
            "service `s`: secret must have at least 32",
        ),
        (
            "[[service]]\nclient_id = \"s\"\nname = \"S\"\ntype = \"public\"\nredirect_uris = [\"http://s.example/cb\"]\n",
            "must use https",
        ),
        (
            "[[service]]\nclient_id = \"s\"\nname = \"S\"\ntype = \"public\"\npkce = \"optional\"\nredirect_uris = [\"https://s.example/cb\"]\n",
            "PKCE cannot be optional",
        ),
        (
            "[[account]]\nemail = \"a@b.example\"\ngiven_name = \"A\"\nfamily_name = \"B\"\npartner = \"cc-roumois-seine\"\npassword = \"whatever-long\"\n",
            "passwords cannot be provisioned",
        ),
        (
            "[[account]]\nemail = \"a@b.example\"\ngiven_name = \"A\"\nfamily_name = \"B\"\n",
            "exactly one of `partner`",
        ),
        (
            "[[service]]\nclient_id = \"s\"\nname = \"S\"\ntype = \"public\"\nunknown_key = 1\n",
            "unknown field",
        ),
    ];
    for (text, expected) in cases {
        let m = message(apply(&app, text, false).await);
        assert!(m.contains(expected), "{m:?} should contain {expected:?}");
    }
    // The first case listed a valid Caf before the invalid partner: nothing was written.
    assert!(
        app.state
            .stores
            .organisations
            .get_caf(&CafCode::parse("99").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn provisioning_writes_the_partners_history_once_and_only_when_something_changes() {
    let app = TestApp::spawn().await;
    let niort = passerelle::types::PartnerId::parse("ville-de-niort").unwrap();
    let history = |app: &TestApp| {
        let store = app.state.stores.habilitations.clone();
        let niort = niort.clone();
        async move { store.changes_of_partner(&niort, 1000).await.unwrap() }
    };
    // The demo applied at start-up: every convention, quota, person, delegation, group and
    // member of Niort is in its history, by `provisioning`.
    let before = history(&app).await;
    for action in [
        "convention.create",
        "quota.set",
        "account.create",
        "delegated_manager.name",
        "group.create",
        "group.add_member",
        "habilitation.grant",
    ] {
        assert!(
            before
                .iter()
                .any(|c| c.action == action && c.actor == "provisioning"),
            "no {action} by provisioning in {before:?}"
        );
    }
    // Applying the same file again records nothing.
    apply(&app, passerelle::cli::DEMO_PROVISIONING, true)
        .await
        .unwrap();
    assert_eq!(history(&app).await.len(), before.len());
    // A changed quota is recorded, once.
    let text = passerelle::cli::DEMO_PROVISIONING.replace(
        "{ service = \"cdap\", role = \"T4\", maximum = 3 }",
        "{ service = \"cdap\", role = \"T4\", maximum = 4 }",
    );
    assert_ne!(
        text,
        passerelle::cli::DEMO_PROVISIONING,
        "the demo's T4 quota moved"
    );
    apply(&app, &text, true).await.unwrap();
    let after = history(&app).await;
    let new: Vec<_> = after
        .iter()
        .filter(|c| !before.contains(c))
        .map(|c| {
            (
                c.action.as_str(),
                c.actor.as_str(),
                c.detail["maximum"].clone(),
            )
        })
        .collect();
    assert_eq!(new, [("quota.set", "provisioning", serde_json::json!(4))]);
}

#[tokio::test]
async fn a_demo_password_obeys_the_policy_of_its_holder() {
    let app = TestApp::spawn().await;
    let person = |password: &str| {
        format!(
            "[[account]]\nemail = \"lea.martin@pilat-rhodanien.example\"\ngiven_name = \"Léa\"\nfamily_name = \"Martin\"\npartner = \"cc-pilat-rhodanien\"\nservices = [\"monenfant-extranet\"]\npassword = \"{password}\"\nhabilitations = [{{ service = \"demo-app\", role = \"utilisateur\" }}]\n"
        )
    };
    // monenfant: letters and digits only.
    let m = message(apply(&app, &person("Demo-Passerelle-2026!"), true).await);
    assert!(
        m.contains("lea.martin@pilat-rhodanien.example") && m.contains("lettres"),
        "{m}"
    );
    let m = message(apply(&app, &person("Martin2026abc"), true).await);
    assert!(m.contains("nom"), "{m}");
    assert!(
        app.state
            .stores
            .accounts
            .find_account_by_email(
                &passerelle::types::Email::parse("lea.martin@pilat-rhodanien.example").unwrap()
            )
            .await
            .unwrap()
            .is_none(),
        "a refused file writes nothing"
    );
    let report = apply(&app, &person("Bienvenue2026Caf"), true)
        .await
        .unwrap();
    assert_eq!(report.passwords_set, 1);
    app.assert_logs_in("lea.martin@pilat-rhodanien.example", "Bienvenue2026Caf")
        .await;
}
