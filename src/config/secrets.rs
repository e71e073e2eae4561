//! Where the key-encryption key comes from (`store::sealed` reads it).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The key-encryption key (KEK) that wraps the data keys of the secrets kept at rest (signing
/// keys' private parts, TOTP secrets, server secrets). Never in the database: one of `kek`
/// (typically `PASSERELLE__SECRETS__KEK`), `kek_file`, or the systemd credential
/// `passerelle-kek` (`$CREDENTIALS_DIRECTORY/passerelle-kek`). None given: SQLite keeps one in
/// `server.data_dir/kek`, created at first start; PostgreSQL refuses to start.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// The key itself: 32 bytes in base64 (`passerelle keys new-kek`).
    pub kek: String,
    /// A file holding the key: its base64, or the 32 bytes themselves.
    pub kek_file: PathBuf,
    /// Keys that open but never seal: the next key while replicas learn it, or the previous
    /// one until `passerelle keys rewrap` has run (base64, as `kek`).
    pub other_keks: Vec<String>,
    /// Files of such keys, as `kek_file`.
    pub other_kek_files: Vec<PathBuf>,
}
