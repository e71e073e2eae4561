//! The command line as an operator uses it: exit status and one-line messages, and the demo
//! started from the real binary on a free port with an empty data folder.

use crate::helpers::{CLAIRE, PASSWORD, browser, location};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_passerelle");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/passerelle.toml");

/// Starts `passerelle demo` on a free port over `dir`; returns the process, the issuer and the
/// banner's lines.
pub async fn spawn_demo(dir: &std::path::Path) -> (std::process::Child, String, Vec<String>) {
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().unwrap(),
        ])
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let banner = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout).lines();
        for line in reader.by_ref() {
            let line = line.unwrap();
            let done = line.contains("nathalie.girard");
            lines.push(line);
            if done {
                break;
            }
        }
        // Keep draining standard output so that the server never writes to a closed pipe.
        std::thread::spawn(move || for _ in reader {});
        lines
    })
    .await
    .unwrap();
    let issuer = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("issuer:"))
        .expect("the banner names the issuer")
        .trim()
        .to_owned();
    (child, issuer, banner)
}

/// Runs the binary in `dir` and returns its exit status and standard output.
pub fn run_in(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn passerelle(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir.path())
        .env_remove("RUST_LOG");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_accepts_the_shipped_file_and_rejects_mistakes_in_one_line() {
    let (code, out, _) = passerelle(&["check-config", "--config", CONFIG], &[]);
    assert_eq!(code, 0);
    assert!(out.starts_with("configuration OK"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlisten = \"127.0.0.1:8080\"\nlisen = \"typo\"\n",
    )
    .unwrap();
    let (code, _, err) = passerelle(&["check-config", "--config", bad.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("lisen"), "{err}");

    let (code, _, err) = passerelle(
        &["check-config", "--config", CONFIG],
        &[(
            "PASSERELLE__TOKENS__AUTHORIZATION_CODE_LIFETIME_SECONDS",
            "900",
        )],
    );
    assert_eq!(code, 2);
    assert!(err.contains("authorization_code_lifetime_seconds"), "{err}");
    let (code, _, err) = passerelle(&["check-config"], &[("PASSERELLE__SERVER__NOPE", "1")]);
    assert_eq!(code, 2);
    assert!(err.contains("nope"), "{err}");
    let (code, out, _) = passerelle(
        &["check-config"],
        &[("PASSERELLE__SERVER__LISTEN", "0.0.0.0:9999")],
    );
    assert_eq!(code, 0);
    assert!(out.contains("0.0.0.0:9999"), "environment overrides: {out}");
    for (key, value, says) in [
        (
            "PASSERELLE__SESSIONS__URL",
            "redis://",
            "must name a Redis host",
        ),
        (
            "PASSERELLE__SESSIONS__URL",
            "memcached://h",
            "is not supported",
        ),
        ("PASSERELLE__STORE__URL", "mysql://h/db", "is not supported"),
        ("PASSERELLE__TRACES__URL", "mongodb://h", "is not supported"),
        (
            "PASSERELLE__SESSIONS__IDLE_TIMEOUT_SECONDS",
            "30",
            "sessions.idle_timeout_seconds must be 0",
        ),
    ] {
        let (code, _, err) = passerelle(&["check-config"], &[(key, value)]);
        assert_eq!((code, err.lines().count()), (2, 1), "{key}={value}: {err}");
        assert!(err.contains(says), "{key}={value}: {err}");
    }
    // The production settings of issue 19, which only make sense together.
    let redis = ("PASSERELLE__SESSIONS__URL", "redis://127.0.0.1:6379/");
    let wait = ("PASSERELLE__SESSIONS__WAIT_REPLICAS", "1");
    for (env, says) in [
        (
            vec![wait],
            "sessions.wait_replicas waits for Redis replicas",
        ),
        (
            vec![redis, wait, ("PASSERELLE__SESSIONS__WAIT_TIMEOUT_MS", "0")],
            "sessions.wait_timeout_ms must be between 1 and 1500",
        ),
        (
            vec![("PASSERELLE__STORE__TLS__SSLMODE", "strict")],
            "store.tls.sslmode `strict` is not one of",
        ),
        (
            vec![("PASSERELLE__STORE__TLS__CLIENT_CERT", CONFIG)],
            "store.tls.client_cert and store.tls.client_key go together",
        ),
        (
            vec![("PASSERELLE__STORE__TLS__ROOT_CERT", "/nonexistent.pem")],
            "store.tls.root_cert: `/nonexistent.pem` is not a file",
        ),
        (
            vec![("PASSERELLE__SESSIONS__URL", "redis-sentinel://a:1,b/caf")],
            "sentinel `b` has no port",
        ),
    ] {
        let (code, _, err) = passerelle(&["check-config"], &env);
        assert_eq!((code, err.lines().count()), (2, 1), "{env:?}: {err}");
        assert!(err.contains(says), "{env:?}: {err}");
    }

    let (code, _, err) = passerelle(&["check-config", "--config", "/nonexistent.toml"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"));
}

#[test]
fn provision_is_idempotent_and_keys_rotate_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let file = data.path().join("orgs.toml");
    std::fs::write(&file, "[[caf]]\ncode = \"27\"\nname = \"Caf de l'Eure\"\n[[partner]]\nid = \"p\"\ncaf = \"27\"\nname = \"P\"\n").unwrap();
    let file = file.to_str().unwrap();
    let (code, out, err) = passerelle(&["provision", file, "--data-dir", data_dir], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 created"), "{out}");
    let (_, out, _) = passerelle(&["provision", file, "--data-dir", data_dir], &[]);
    assert!(out.contains("0 created, 0 updated, 2 unchanged"), "{out}");

    let (code, _, err) = passerelle(
        &["provision", "/nonexistent.toml", "--data-dir", data_dir],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.starts_with("error: cannot read"));

    let (code, out, _) = passerelle(&["keys", "rotate", "--data-dir", data_dir], &[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("rs256-") && out.contains("es256-") && out.contains("eddsa-"),
        "{out}"
    );
    let (_, out, _) = passerelle(&["keys", "list", "--data-dir", data_dir], &[]);
    assert_eq!(
        out.lines().filter(|l| l.contains("retired")).count(),
        3,
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.ends_with("active")).count(),
        3,
        "{out}"
    );
    let (code, out, _) = passerelle(&["migrate", "--data-dir", data_dir], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("up to date"));
}

#[tokio::test]
async fn the_demo_starts_on_an_empty_folder_and_a_demo_account_can_log_in() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, issuer, banner) = spawn_demo(data.path()).await;
    assert!(banner.iter().any(|l| l.contains("client_secret:")));
    crate::helpers::install_tls_provider();
    let discovery: serde_json::Value =
        reqwest::get(format!("{issuer}/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(discovery["issuer"], issuer);

    let browser = browser();
    let mut url = url::Url::parse(&format!("{issuer}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "demo-app")
        .append_pair("redirect_uri", "http://127.0.0.1:9000/callback")
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("code_challenge", crate::helpers::CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    let response = browser.get(url.as_str()).send().await.unwrap();
    let login = format!("{issuer}{}", location(&response));
    let html = browser
        .get(&login)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("csrf", crate::helpers::hidden(&html, "csrf").unwrap()),
        ("request", crate::helpers::hidden(&html, "request").unwrap()),
        ("email", CLAIRE.to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let response = browser
        .post(format!("{issuer}/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert!(location(&response).starts_with("http://127.0.0.1:9000/callback?code="));
}

#[test]
fn user_commands_create_accounts_with_an_activation_mail_and_refuse_mistakes() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let orgs = data.path().join("orgs.toml");
    std::fs::write(&orgs, "[[caf]]\ncode = \"27\"\nname = \"Caf de l'Eure\"\n[[partner]]\nid = \"p\"\ncaf = \"27\"\nname = \"P\"\n").unwrap();
    let (code, _, err) = passerelle(
        &["provision", orgs.to_str().unwrap(), "--data-dir", data_dir],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let create = [
        "user",
        "create",
        "--email",
        "Anne.Petit@P.example",
        "--given-name",
        "Anne",
        "--family-name",
        "Petit",
        "--partner",
        "p",
        "--data-dir",
        data_dir,
    ];
    let (code, out, err) = passerelle(&create, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("activation link sent"), "{out}");
    let outbox: Vec<_> = std::fs::read_dir(data.path().join("outbox"))
        .unwrap()
        .collect();
    assert_eq!(outbox.len(), 1);

    let (code, _, err) = passerelle(&create, &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("already exists") && err.lines().count() == 1,
        "{err}"
    );
    let (code, _, err) = passerelle(
        &[
            "user",
            "create",
            "--email",
            "b@p.example",
            "--given-name",
            "B",
            "--family-name",
            "C",
            "--partner",
            "nowhere",
            "--data-dir",
            data_dir,
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
    let (code, out, _) = passerelle(
        &[
            "user",
            "suspend",
            "anne.petit@p.example",
            "--data-dir",
            data_dir,
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(out.contains("suspended"));
    // What the command line did is in the partner's history, by the author `cli`.
    let history = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use passerelle::store::ChangeLog;
        let store =
            passerelle::store::sqlite::SqliteStore::open(&data.path().join("passerelle.db"), 1)
                .await
                .unwrap();
        store
            .changes_of_partner(&passerelle::types::PartnerId::parse("p").unwrap(), 10)
            .await
            .unwrap()
    });
    let actions: Vec<(&str, &str)> = history
        .iter()
        .map(|c| (c.action.as_str(), c.actor.as_str()))
        .collect();
    assert!(actions.contains(&("account.create", "cli")), "{actions:?}");
    assert!(actions.contains(&("account.suspend", "cli")), "{actions:?}");
    let (code, _, err) = passerelle(
        &[
            "user",
            "resend-activation",
            "nobody@p.example",
            "--data-dir",
            data_dir,
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("no account"), "{err}");
}

#[test]
fn check_config_warns_about_a_weak_temporary_password_length() {
    let (code, _, err) = passerelle(
        &["check-config"],
        &[("PASSERELLE__CREDENTIALS__TEMPORARY_PASSWORD_LENGTH", "8")],
    );
    assert_eq!(code, 0);
    assert!(err.contains("warning") && err.contains("50 bits"), "{err}");
    let (code, _, err) = passerelle(
        &["check-config"],
        &[(
            "PASSERELLE__CREDENTIALS__TEMPORARY_PASSWORD_LIFETIME_SECONDS",
            "90000",
        )],
    );
    assert_eq!(code, 2);
    assert!(err.contains("24 h"), "{err}");
}

/// Every key path of a TOML table (`section.key`, nested tables walked).
fn key_paths(value: &toml::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
    if let toml::Value::Table(table) = value {
        for (k, v) in table {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_table() {
                key_paths(v, &path, out);
            } else {
                out.insert(path);
            }
        }
    }
}

#[test]
fn the_shipped_configuration_documents_every_key_with_its_default() {
    let defaults = toml::Value::try_from(passerelle::config::Config::default()).unwrap();
    let shipped: toml::Value = toml::from_str(&std::fs::read_to_string(CONFIG).unwrap()).unwrap();
    let (mut expected, mut documented) = (Default::default(), Default::default());
    key_paths(&defaults, "", &mut expected);
    key_paths(&shipped, "", &mut documented);
    let missing: Vec<_> = expected.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "keys missing from config/passerelle.toml: {missing:?}"
    );
    assert_eq!(shipped, defaults, "the shipped file shows the defaults");
    let text = std::fs::read_to_string(CONFIG).unwrap();
    for path in &expected {
        let mut parts = path.splitn(3, '.');
        let section = parts.next().unwrap();
        if section == "password_policies" {
            continue;
        }
        let variable = format!("PASSERELLE__{}", path.replace('.', "__").to_uppercase());
        assert!(text.contains(&variable), "{variable} is not documented");
    }
}

#[test]
fn administrators_trigger_resets_and_grant_roles_from_the_command_line() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let orgs = data.path().join("orgs.toml");
    std::fs::write(&orgs, "[[caf]]\ncode = \"27\"\nname = \"Caf de l'Eure\"\n").unwrap();
    passerelle(
        &["provision", orgs.to_str().unwrap(), "--data-dir", data_dir],
        &[],
    );
    let create = |role: &str| {
        passerelle(
            &[
                "user",
                "create",
                "--email",
                "officer@caf27.example",
                "--given-name",
                "O",
                "--family-name",
                "F",
                "--caf",
                "27",
                "--admin-role",
                role,
                "--data-dir",
                data_dir,
            ],
            &[],
        )
    };
    let (code, _, err) = create("king");
    assert_eq!(code, 2);
    assert!(err.contains("security-officer"), "{err}");
    let (code, _, err) = create("security-officer");
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = passerelle(
        &[
            "user",
            "send-reset",
            "officer@caf27.example",
            "--data-dir",
            data_dir,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("reset link sent"), "{out}");
    let mails: Vec<String> = std::fs::read_dir(data.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(mails.len(), 2, "activation then reset");
    assert!(mails.iter().any(|m| m.contains("reinitialisation?jeton=")));
}

#[tokio::test]
async fn a_command_writes_the_traces_it_queued_before_it_exits() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("p.toml");
    std::fs::write(
        &file,
        r#"
[[caf]]
code = "27"
name = "Caf de l'Eure"

[[partner]]
id = "p1"
caf = "27"
name = "Partenaire"

[[service]]
client_id = "s1"
name = "Service"
type = "public"
redirect_uris = ["https://s1.example/cb"]
roles = [{ code = "r", label = "Rôle" }]

[[convention]]
id = "c1"
number = "C-1"
kind = "cooperation"
partner = "p1"
services = ["s1"]
starts_on = "2024-01-01"
quotas = [{ service = "s1", role = "r", maximum = 50 }]

[[account]]
email = "a@p1.example"
given_name = "A"
family_name = "B"
partner = "p1"
habilitations = [{ service = "s1", role = "r" }]
"#,
    )
    .unwrap();
    let dir = data.path().to_str().unwrap();
    let (code, _, err) = run_in(
        data.path(),
        &["provision", file.to_str().unwrap(), "--data-dir", dir],
    );
    assert_eq!(code, 0, "{err}");
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        data.path().join("traces.db").display()
    ))
    .await
    .unwrap();
    let changes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM traces WHERE action = 'admin.change'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        changes, 4,
        "the convention, its quota, the account and the habilitation provisioning wrote are traced"
    );
}

/// The `PASSERELLE__…: value` lines of a YAML manifest (the compose environment, the
/// Secret's stringData): what the containers receive.
fn manifest_env(path: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(": ")?;
            k.starts_with("PASSERELLE__")
                .then(|| (k.to_owned(), v.trim_matches('"').to_owned()))
        })
        .collect()
}

#[test]
fn the_deployment_files_pass_check_config_with_their_environment() {
    let root = env!("CARGO_MANIFEST_DIR");
    for (config, manifest) in [
        (
            "deploy/compose/passerelle.toml",
            "deploy/compose/compose.yaml",
        ),
        (
            "deploy/kubernetes/passerelle.toml",
            "deploy/kubernetes/secret.yaml",
        ),
    ] {
        let env = manifest_env(&format!("{root}/{manifest}"));
        assert!(
            env.iter()
                .any(|(k, v)| k == "PASSERELLE__STORE__URL" && v.starts_with("postgres://"))
                && env
                    .iter()
                    .any(|(k, v)| k == "PASSERELLE__SESSIONS__URL" && v.starts_with("redis://"))
                && env.iter().any(|(k, _)| k == "PASSERELLE__SECRETS__KEK"),
            "{manifest} gives the replicas PostgreSQL, Redis and one key-encryption key"
        );
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (code, out, err) = passerelle(
            &["check-config", "--config", &format!("{root}/{config}")],
            &env,
        );
        assert_eq!(code, 0, "{config}: {err}");
        assert!(out.starts_with("configuration OK"), "{config}: {out}");
        assert!(out.contains("\nkey-encryption key "), "{config}: {out}");
        assert!(!err.contains("warning"), "{config}: {err}");
    }
    // The Kubernetes objects refer to each other by the names they define.
    let k8s = |f: &str| std::fs::read_to_string(format!("{root}/deploy/kubernetes/{f}")).unwrap();
    let kustomization = k8s("kustomization.yaml");
    for file in [
        "deployment.yaml",
        "service.yaml",
        "secret.yaml",
        "pdb.yaml",
        "passerelle.toml",
    ] {
        assert!(kustomization.contains(file), "kustomization lists {file}");
    }
    let deployment = k8s("deployment.yaml");
    assert!(
        deployment.contains("name: passerelle-config")
            && kustomization.contains("name: passerelle-config")
    );
    assert!(
        deployment.contains("name: passerelle-secrets")
            && k8s("secret.yaml").contains("name: passerelle-secrets")
    );
    assert!(deployment.contains("path: /readyz") && deployment.contains("path: /healthz"));
}

/// The demo data goes in once: a restarted demo keeps what was changed since (here the Caf
/// withdrew Niort's delegation), instead of provisioning config/demo.toml over it again.
#[tokio::test]
async fn a_restarted_demo_keeps_the_changes_made_since() {
    use passerelle::store::{HabilitationMode, sqlite::SqliteStore};
    let data = tempfile::tempdir().unwrap();
    let (mut child, _, banner) = spawn_demo(data.path()).await;
    child.kill().unwrap();
    let _ = child.wait();
    assert!(banner.iter().any(|l| l.contains("demo data: applied")));

    let id = passerelle::types::ConventionId::parse("mcp-79-niort").unwrap();
    let open = || async {
        let store = SqliteStore::open(&data.path().join("passerelle.db"), 1)
            .await
            .unwrap();
        passerelle::store::Stores::embedded(
            store,
            passerelle::store::memory::MemoryStore::new(),
            passerelle::store::sqlite::traces::SqliteTraceStore::open(
                &data.path().join("traces.db"),
            )
            .await
            .unwrap(),
        )
    };
    let stores = open().await;
    let mut convention = stores
        .habilitations
        .get_convention(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(convention.mode, HabilitationMode::Delegated);
    convention.mode = HabilitationMode::Centralized;
    stores
        .habilitations
        .upsert_convention(&convention)
        .await
        .unwrap();
    drop(stores);

    let (mut child, _, banner) = spawn_demo(data.path()).await;
    child.kill().unwrap();
    let _ = child.wait();
    assert!(
        banner
            .iter()
            .any(|l| l.contains("demo data: already in place")),
        "{banner:?}"
    );
    let stores = open().await;
    assert_eq!(
        stores
            .habilitations
            .get_convention(&id)
            .await
            .unwrap()
            .unwrap()
            .mode,
        HabilitationMode::Centralized,
        "the change survives the restart"
    );
}
