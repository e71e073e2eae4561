//! Secrets encrypted at rest: what the database files and a dump hold, the migration of values
//! kept in clear, a wrong key-encryption key refused, and `passerelle keys rewrap`.

use crate::helpers::*;
use crate::servers::Postgres;
use passerelle::oidc::keys::KeyRing;
use passerelle::store::sealed::kek::new_kek;
use passerelle::store::sqlite::SqliteStore;
use passerelle::store::{
    AccountStore, FactorStore, KeyStore, SealedSlot, SealedValueStore, SecretStore, SigningAlg,
};
use passerelle::types::Email;
use std::collections::HashSet;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_passerelle");
const MAGIC: &[u8] = b"PSLSEAL1";
/// A secret leaks if any run of this many of its bytes is found.
const RUN: usize = 16;

/// Whether any run of `RUN` bytes of `secret` appears in `haystack`.
fn leaks(haystack: &HashSet<&[u8]>, secret: &[u8]) -> bool {
    secret.windows(RUN).any(|w| haystack.contains(w))
}

fn runs(bytes: &[u8]) -> HashSet<&[u8]> {
    bytes.windows(RUN).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Claire enrols TOTP through the pages; answers her TOTP secret and the signing keys'
/// private parts, in clear, as the server reads them.
async fn secrets_in_use(app: &TestApp) -> (Vec<u8>, Vec<Vec<u8>>) {
    let browser = browser();
    app.submit_login(&browser, "/login", CLAIRE, PASSWORD).await;
    let (secret, _, _) = crate::mfa::enrol(app, &browser, "/compte/double-authentification").await;
    let totp = totp_rs::Secret::try_from_base32(&secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    let account = app.account(CLAIRE).await.id;
    let seen = app.state.stores.factors.get_totp(&account).await.unwrap();
    assert_eq!(
        seen.unwrap().secret,
        totp,
        "the server reads the secret back"
    );
    let keys = app.state.stores.keys.list_signing_keys().await.unwrap();
    assert!(keys.len() >= 2);
    (totp, keys.into_iter().map(|k| k.private_pkcs8).collect())
}

/// The database file and its write-ahead log as bytes, read by another process: closing a
/// descriptor of the file in this one would drop every POSIX lock SQLite holds on it here, and
/// this process's connections would then miss what other processes write.
fn database_files(data_dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["passerelle.db", "passerelle.db-wal"] {
        let path = data_dir.join(name);
        if path.exists() {
            let out = Command::new("cat").arg(&path).output().unwrap();
            assert!(out.status.success(), "cat {}", path.display());
            bytes.extend(out.stdout);
        }
    }
    assert!(bytes.len() > 4096, "the database files were read");
    bytes
}

#[tokio::test]
async fn the_sqlite_files_hold_no_signing_key_nor_totp_secret_in_clear() {
    let app = TestApp::spawn().await;
    let (totp, keys) = secrets_in_use(&app).await;
    let raw = SqliteStore::open(&app.data_dir().join("passerelle.db"), 1)
        .await
        .unwrap();
    for key in raw.list_signing_keys().await.unwrap() {
        assert!(
            key.private_pkcs8.starts_with(MAGIC),
            "{} is sealed",
            key.kid
        );
    }
    let account = app.account(CLAIRE).await.id;
    let stored = raw.get_totp(&account).await.unwrap().unwrap().secret;
    assert!(stored.starts_with(MAGIC) && stored.len() > totp.len() + 60);
    let files = database_files(app.data_dir());
    let runs = runs(&files);
    assert!(
        !leaks(&runs, &totp),
        "the TOTP secret is in the database files"
    );
    for der in &keys {
        assert!(!leaks(&runs, der), "a private key is in the database files");
    }
    // The key that wraps them lives beside the database in the embedded default only.
    let kek = std::fs::read_to_string(app.data_dir().join("kek")).unwrap();
    assert!(!leaks(&runs, kek.trim().as_bytes()));
}

#[tokio::test]
async fn a_postgresql_dump_holds_no_signing_key_nor_totp_secret_in_clear() {
    let pg = Postgres::start();
    let url = pg.database("at_rest");
    let app = TestApp::spawn_with(|c| {
        c.store.url = url;
        c.secrets.kek = TEST_KEK.into();
    })
    .await;
    let (totp, keys) = secrets_in_use(&app).await;
    let dump = pg.dump("at_rest");
    assert!(dump.contains("COPY public.totp_factors"), "a full dump");
    // pg_dump writes bytea as hexadecimal.
    let sealed_totp = pg.psql("at_rest", "SELECT encode(secret, 'hex') FROM totp_factors");
    assert!(sealed_totp.trim().starts_with(&hex(MAGIC)), "{sealed_totp}");
    for secret in std::iter::once(&totp).chain(&keys) {
        for run in secret.windows(RUN) {
            assert!(
                !dump.contains(&hex(run)),
                "a secret is in the dump in clear"
            );
        }
    }
}

fn passerelle(
    data_dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(data_dir)
        .env_remove("RUST_LOG")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("PASSERELLE__SERVER__LISTEN", "127.0.0.1:0")
        .env("PASSERELLE__SERVER__MANAGEMENT_LISTEN", "");
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

/// Every value kept at rest, as stored.
async fn stored_values(raw: &SqliteStore) -> Vec<(SealedSlot, Vec<u8>)> {
    raw.values_not_beginning_with(&[0; 16], 10_000)
        .await
        .unwrap()
}

#[tokio::test]
async fn values_kept_in_clear_are_sealed_at_start_a_wrong_key_is_refused_and_keys_rewrap() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let demo = data.join("demo.toml");
    std::fs::write(
        &demo,
        format!(
            "[[caf]]\ncode = \"27\"\nname = \"Caf de l'Eure\"\n[[partner]]\nid = \"p\"\ncaf = \"27\"\nname = \"P\"\n[[account]]\nemail = \"{CLAIRE}\"\ngiven_name = \"Claire\"\nfamily_name = \"Dubois\"\npartner = \"p\"\n"
        ),
    )
    .unwrap();
    let (code, _, err) = passerelle(data, &["provision", demo.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{err}");

    // A database from before encryption at rest: new signing keys, a TOTP secret and the CSRF
    // key written in clear.
    let raw = SqliteStore::open(&data.join("passerelle.db"), 1)
        .await
        .unwrap();
    let now = passerelle::store::now();
    KeyRing::rotate(raw.as_ref(), now, 300).await.unwrap();
    let claire = raw
        .find_account_by_email(&Email::parse(CLAIRE).unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let totp: Vec<u8> = (1..=20).collect();
    assert!(raw.begin_totp(&claire, &totp, now).await.unwrap());
    raw.confirm_totp(&claire, 1, &[], now).await.unwrap();
    let csrf = SealedSlot::ServerSecret("csrf".into());
    let sealed_csrf = raw.server_secret("csrf", b"unused").await.unwrap();
    let clear_csrf = b"a CSRF key kept in clear before!".to_vec();
    assert!(
        raw.replace_value(&csrf, &sealed_csrf, &clear_csrf)
            .await
            .unwrap()
    );
    let clear_keys: Vec<Vec<u8>> = raw
        .list_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.private_pkcs8)
        .filter(|der| !der.starts_with(MAGIC))
        .collect();
    assert_eq!(clear_keys.len(), SigningAlg::ALL.len());
    let values = stored_values(&raw).await.len();
    raw.close().await;

    // The next start seals them, and the files keep no copy in clear.
    let (code, out, err) = passerelle(data, &["keys", "list"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().filter(|l| l.ends_with("\tactive")).count(),
        SigningAlg::ALL.len(),
        "{out}"
    );
    let raw = SqliteStore::open(&data.join("passerelle.db"), 1)
        .await
        .unwrap();
    let stored = stored_values(&raw).await;
    assert_eq!(stored.len(), values);
    for (slot, value) in &stored {
        assert!(value.starts_with(MAGIC), "{slot:?} is sealed");
    }
    // Closed before other processes write: a connection left open here may keep reading the
    // file as it was.
    raw.close().await;
    let files = database_files(data);
    let runs = runs(&files);
    for secret in clear_keys.iter().chain([&totp, &clear_csrf]) {
        assert!(
            !leaks(&runs, secret),
            "a value sealed from clear is left in the files"
        );
    }
    drop(runs);

    // The values open as they were.
    let opened = |kek: String| {
        let data = data.to_path_buf();
        async move {
            let mut config = test_config(&data);
            config.secrets.kek = kek;
            passerelle::app::open_stores(&config, &Default::default()).await
        }
    };
    let old_kek = std::fs::read_to_string(data.join("kek")).unwrap();
    let stores = opened(old_kek.trim().to_owned()).await.unwrap();
    let factor = stores.factors.get_totp(&claire).await.unwrap().unwrap();
    assert_eq!(factor.secret, totp);
    assert_eq!(
        stores
            .secrets
            .server_secret("csrf", b"other")
            .await
            .unwrap(),
        clear_csrf
    );
    let ders: Vec<_> = stores
        .keys
        .list_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.private_pkcs8)
        .collect();
    assert!(clear_keys.iter().all(|der| ders.contains(der)));
    drop(stores);

    // Another key: the command and the server refuse to start, in one line.
    let new = new_kek();
    for args in [&["keys", "list"][..], &["serve"]] {
        let (code, _, err) = passerelle(data, args, &[("PASSERELLE__SECRETS__KEK", &new)]);
        assert_ne!(code, 0, "{args:?}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("wrong key-encryption key"), "{args:?}: {err}");
    }
    assert!(opened(new.clone()).await.is_err());

    // The new key with the old one beside it: everything is rewrapped under the new one.
    let old_file = data.join("kek");
    let others = format!("[\"{}\"]", old_file.display());
    let with_both = [
        ("PASSERELLE__SECRETS__KEK", new.as_str()),
        ("PASSERELLE__SECRETS__OTHER_KEK_FILES", others.as_str()),
    ];
    let (code, out, err) = passerelle(data, &["keys", "rewrap"], &with_both);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!(
            "{values} secrets rewrapped and 0 sealed from clear"
        )),
        "{out}"
    );
    assert!(out.contains("can leave secrets.other_kek_files"), "{out}");
    let (code, out, _) = passerelle(data, &["keys", "rewrap"], &with_both);
    assert_eq!(code, 0);
    assert!(out.starts_with("0 secrets rewrapped"), "{out}");
    // The old key alone no longer opens them; the new one alone does.
    let (code, _, err) = passerelle(data, &["keys", "list"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("wrong key-encryption key"), "{err}");
    let stores = match opened(new.clone()).await {
        Ok(s) => s,
        Err(e) => {
            // Which key each value is under, to tell a stray writer from a missed rewrap.
            let raw = SqliteStore::open(&data.join("passerelle.db"), 1)
                .await
                .unwrap();
            let under: Vec<_> = stored_values(&raw)
                .await
                .into_iter()
                .map(|(slot, v)| (slot, hex(&v[8..16])))
                .collect();
            let ids = |k: &str| {
                let mut c = test_config(data);
                c.secrets.kek = k.to_owned();
                passerelle::store::sealed::kek::keyring(&c)
                    .unwrap()
                    .current_id()
            };
            let cli = passerelle(
                data,
                &["keys", "list"],
                &[("PASSERELLE__SECRETS__KEK", &new)],
            );
            panic!(
                "{e:#}; a new process with the new key: {cli:?}; old key {}, new key {}; values under {under:?}",
                ids(old_kek.trim()),
                ids(&new)
            );
        }
    };
    let factor = stores.factors.get_totp(&claire).await.unwrap().unwrap();
    assert_eq!(factor.secret, totp);
}
