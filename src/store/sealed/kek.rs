//! Reading the key-encryption keys (`secrets` in the configuration), never from the database.

use super::{Kek, Keyring};
use crate::config::{Config, is_postgres};
use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The systemd credential (`LoadCredential=passerelle-kek:/etc/passerelle/kek`) read when
/// `$CREDENTIALS_DIRECTORY` is set.
pub const CREDENTIAL: &str = "passerelle-kek";

/// The file the embedded default keeps its key in, beside the SQLite database.
pub const DEFAULT_FILE: &str = "kek";

/// A new key, in the base64 every source accepts.
pub fn new_kek() -> String {
    STANDARD.encode(Zeroizing::new(crate::crypto::random_bytes(32)).as_slice())
}

/// The ring the configuration gives: the current key from exactly one source, and the others.
pub fn keyring(config: &Config) -> anyhow::Result<Keyring> {
    let secrets = &config.secrets;
    let mut given: Vec<(String, Kek)> = Vec::new();
    if !secrets.kek.trim().is_empty() {
        given.push((
            "secrets.kek".into(),
            parse("secrets.kek", secrets.kek.as_bytes())?,
        ));
    }
    if !secrets.kek_file.as_os_str().is_empty() {
        given.push((
            format!("secrets.kek_file {}", secrets.kek_file.display()),
            read(&secrets.kek_file)?,
        ));
    }
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let path = PathBuf::from(dir).join(CREDENTIAL);
        if path.exists() {
            given.push((format!("the credential {CREDENTIAL}"), read(&path)?));
        }
    }
    if let Some((first, rest)) = given.split_first()
        && let Some((other, _)) = rest.iter().find(|(_, k)| k.id != first.1.id)
    {
        bail!(
            "two different key-encryption keys are given ({} and {other}): keep one",
            first.0
        );
    }
    let current = match given.into_iter().next() {
        Some((_, kek)) => kek,
        None if is_postgres(&config.store.url) => bail!(
            "PostgreSQL needs a key-encryption key for the secrets it keeps: set secrets.kek_file, PASSERELLE__SECRETS__KEK or the systemd credential {CREDENTIAL} (`passerelle keys new-kek` prints a new one)"
        ),
        None => embedded(&config.server.data_dir)?,
    };
    let mut others = Vec::new();
    for (i, text) in secrets.other_keks.iter().enumerate() {
        others.push(parse(&format!("secrets.other_keks[{i}]"), text.as_bytes())?);
    }
    for path in &secrets.other_kek_files {
        others.push(read(path)?);
    }
    Ok(Keyring::new(current, others))
}

/// What `passerelle check-config` says of the keys, having read them (without creating the
/// embedded default's).
pub fn describe(config: &Config) -> anyhow::Result<String> {
    let secrets = &config.secrets;
    let default = config.server.data_dir.join(DEFAULT_FILE);
    let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
        .is_some_and(|dir| PathBuf::from(dir).join(CREDENTIAL).exists());
    if secrets.kek.trim().is_empty()
        && secrets.kek_file.as_os_str().is_empty()
        && !credential
        && !is_postgres(&config.store.url)
        && !default.exists()
    {
        return Ok(format!(
            "key-encryption key created in {} at first start",
            default.display()
        ));
    }
    let ring = keyring(config)?;
    let others = ring.other_ids();
    Ok(if others.is_empty() {
        format!("key-encryption key {}", ring.current_id())
    } else {
        format!(
            "key-encryption key {} (opening also with {})",
            ring.current_id(),
            others.join(", ")
        )
    })
}

/// The embedded default's key, created beside the database at first start.
fn embedded(data_dir: &Path) -> anyhow::Result<Kek> {
    let path = data_dir.join(DEFAULT_FILE);
    if !path.exists() {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create data folder {}", data_dir.display()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        // Two processes starting at once: the one that loses the race reads the winner's key.
        if let Ok(mut file) = options.open(&path) {
            use std::io::Write;
            writeln!(file, "{}", new_kek())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::warn!(
                path = %path.display(),
                "created the key-encryption key of the secrets kept at rest beside the database: keep it out of the database's backups, or give one with secrets.kek_file"
            );
        }
    }
    read(&path)
}

fn read(path: &Path) -> anyhow::Result<Kek> {
    let bytes = Zeroizing::new(
        std::fs::read(path)
            .with_context(|| format!("cannot read the key-encryption key {}", path.display()))?,
    );
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "the key-encryption key is readable by other users: chmod 600 it");
        }
    }
    parse(&path.display().to_string(), &bytes)
}

/// 32 bytes in base64, or the 32 bytes themselves.
fn parse(source: &str, bytes: &[u8]) -> anyhow::Result<Kek> {
    let decoded = Zeroizing::new(STANDARD.decode(bytes.trim_ascii()).unwrap_or_default());
    let key: &[u8] = if decoded.len() == 32 { &decoded } else { bytes };
    let key: [u8; 32] = key.try_into().map_err(|_| {
        anyhow::anyhow!(
            "{source} is not a key-encryption key: 32 bytes in base64 expected (`passerelle keys new-kek` prints one)"
        )
    })?;
    Ok(Kek::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_as_base64_or_raw_bytes() {
        let text = new_kek();
        let a = parse("t", format!("{text}\n").as_bytes()).unwrap();
        let raw = STANDARD.decode(&text).unwrap();
        assert_eq!(parse("t", &raw).unwrap().id(), a.id());
        let e = parse("secrets.kek", b"short").err().unwrap().to_string();
        assert!(
            e.starts_with("secrets.kek is not a key-encryption key"),
            "{e}"
        );
    }

    #[test]
    fn the_embedded_default_keeps_its_key_beside_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.data_dir = dir.path().to_path_buf();
        let first = keyring(&config).unwrap().current_id();
        assert_eq!(keyring(&config).unwrap().current_id(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEFAULT_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        config.secrets.kek = new_kek();
        assert_ne!(keyring(&config).unwrap().current_id(), first);
        config.secrets.kek_file = dir.path().join(DEFAULT_FILE);
        let e = keyring(&config).err().unwrap().to_string();
        assert!(e.starts_with("two different key-encryption keys"), "{e}");
        config.secrets = Default::default();
        config.store.url = "postgres://u@h/db".into();
        let e = keyring(&config).err().unwrap().to_string();
        assert!(
            e.starts_with("PostgreSQL needs a key-encryption key"),
            "{e}"
        );
    }
}
