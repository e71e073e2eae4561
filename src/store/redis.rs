//! The shared ephemeral store: Redis, for several replicas of Passerelle.
//!
//! Every key carries a configurable prefix and an absolute expiry (`EXPIREAT`) taken from the
//! record itself, so Redis does the sweeping. Whatever two replicas could race on (a code used
//! once, a refresh token rotated once, a failure counted once, a session ended once) is one Lua
//! script: Redis runs each script alone, which makes it atomic without locks.
//!
//! Keys (after the prefix): `s:{sid}` session hash (`base` JSON, `acct`, `up` second factor,
//! `c:{client}` and `g:{grant}` fields), `sa:{account}` set of sids, `p:{id}` pending login,
//! `code:{digest}` code hash (`v`, `used`), `at:{digest}` access token, `ata:{account}` set of
//! digests, `f:{grant}` refresh family hash (`v`, `cur`, `rev`), `r:{digest}` → grant,
//! `fa:{account}` set of grants, `rg:{grant}` revocation mark, `th:{sha256(key)}` and
//! `thr:{sha256(key)}` failure counters, `ch:{id}` challenge. Digests are the base64url SHA-256
//! of the token: no secret is ever a key or a value. The scripts compute a few keys from
//! stored values, which a single Redis server (or a primary with replicas) allows; Redis
//! Cluster is not supported.

use super::*;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncCommands, Script};
use anyhow::Context;
use std::time::Duration;

pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    scripts: Scripts,
}

struct Scripts {
    insert_session: Script,
    add_session_grant: Script,
    upgrade_session: Script,
    remove_session: Script,
    consume_code: Script,
    index_with_expiry: Script,
    rotate_refresh: Script,
    revoke_grant: Script,
    revoke_grants_of_account: Script,
    record_failure: Script,
    record_success: Script,
}

/// Extends a set's expiry to at least ARGV[2] after adding ARGV[1] to it.
const INDEX_WITH_EXPIRY: &str = r"
redis.call('SADD', KEYS[1], ARGV[1])
local t = redis.call('EXPIRETIME', KEYS[1])
if t < tonumber(ARGV[2]) then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
return 1";

const INSERT_SESSION: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'base', ARGV[1], 'acct', ARGV[3])
redis.call('EXPIREAT', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
local t = redis.call('EXPIRETIME', KEYS[2])
if t < tonumber(ARGV[2]) then redis.call('EXPIREAT', KEYS[2], ARGV[2]) end
return 1";

const ADD_SESSION_GRANT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], '', 'g:' .. ARGV[2], '')
return 1";

const UPGRADE_SESSION: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'up', ARGV[1])
return 1";

const REMOVE_SESSION: &str = r"
local all = redis.call('HGETALL', KEYS[1])
if #all == 0 then return all end
local acct = redis.call('HGET', KEYS[1], 'acct')
redis.call('DEL', KEYS[1])
if acct then redis.call('SREM', ARGV[1] .. 'sa:' .. acct, ARGV[2]) end
return all";

const CONSUME_CODE: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return {0, false} end
if redis.call('HSETNX', KEYS[1], 'used', '1') == 1 then return {1, v} end
return {2, v}";

const ROTATE_REFRESH: &str = r"
local grant = redis.call('GET', KEYS[1])
if not grant then return {0, false} end
local fk = ARGV[3] .. 'f:' .. grant
local f = redis.call('HMGET', fk, 'v', 'cur', 'rev')
if not f[1] or f[3] == '1' then return {0, false} end
local exp = redis.call('EXPIRETIME', fk)
if exp < 0 then return {0, false} end
if f[2] ~= ARGV[1] then
  redis.call('HSET', fk, 'rev', '1')
  redis.call('SET', ARGV[3] .. 'rg:' .. grant, '1', 'EXAT', exp)
  return {2, f[1]}
end
redis.call('HSET', fk, 'cur', ARGV[2])
redis.call('SET', ARGV[3] .. 'r:' .. ARGV[2], grant, 'EXAT', exp)
return {1, f[1]}";

const REVOKE_GRANT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'rev', '1') end
local t = redis.call('EXPIRETIME', KEYS[2])
if t < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], '1', 'EXAT', ARGV[1]) end
return 1";

const REVOKE_GRANTS_OF_ACCOUNT: &str = r"
local n = 0
for _, g in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local fk = ARGV[1] .. 'f:' .. g
  local rev = redis.call('HGET', fk, 'rev')
  local exp = redis.call('EXPIRETIME', fk)
  if rev and rev ~= '1' and exp > 0 then
    redis.call('HSET', fk, 'rev', '1')
    redis.call('SET', ARGV[1] .. 'rg:' .. g, '1', 'EXAT', exp)
    n = n + 1
  end
end
for _, t in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('DEL', ARGV[1] .. 'at:' .. t)
end
redis.call('DEL', KEYS[2])
return n";

const RECORD_FAILURE: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local c = redis.call('HINCRBY', KEYS[1], 'consecutive', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('RPUSH', KEYS[2], ARGV[1])
while true do
  local first = redis.call('LINDEX', KEYS[2], 0)
  if first and tonumber(first) + window <= now then redis.call('LPOP', KEYS[2]) else break end
end
redis.call('EXPIRE', KEYS[1], window)
redis.call('EXPIRE', KEYS[2], window)
return {c, redis.call('LRANGE', KEYS[2], 0, -1)}";

const RECORD_SUCCESS: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'consecutive', 0) end
return 1";

fn backend(e: ::redis::RedisError) -> StoreError {
    StoreError::Backend(anyhow::Error::new(e).context("Redis"))
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records serialise")
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// The URL without its password, for messages.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparseable URL)".into(),
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SecondFactor {
    acr: String,
    amr: Vec<String>,
}

impl RedisStore {
    /// Connects and checks that the server answers, so that a wrong URL or a stopped server
    /// stops Passerelle at start-up with one clear line. Afterwards the connection is
    /// re-established by itself: while Redis is away, operations fail (and requests get an
    /// error page or a 503 from `/readyz`) and resume when it is back.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Arc<Self>> {
        // rediss:// uses rustls on the process's provider (commands reach here without
        // Application::build, which installs it too).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let shown = redacted(url);
        let client = ::redis::Client::open(url)
            .with_context(|| format!("sessions.url {shown} is not a Redis URL"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(2)
            .set_max_delay(500);
        let mut conn = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| anyhow::anyhow!("Redis at {shown} did not answer within 5 s"))?
        .with_context(|| format!("cannot reach Redis at {shown}"))?;
        let _: String = ::redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .with_context(|| format!("Redis at {shown} refused PING"))?;
        let version = server_version(&mut conn).await.unwrap_or_default();
        if version < (7, 0) {
            anyhow::bail!(
                "Redis at {shown} is version {}.{}: Passerelle needs 7.0 or later (EXPIRETIME)",
                version.0,
                version.1
            );
        }
        Ok(Arc::new(Self {
            conn,
            prefix: prefix.to_owned(),
            scripts: Scripts {
                insert_session: Script::new(INSERT_SESSION),
                add_session_grant: Script::new(ADD_SESSION_GRANT),
                upgrade_session: Script::new(UPGRADE_SESSION),
                remove_session: Script::new(REMOVE_SESSION),
                consume_code: Script::new(CONSUME_CODE),
                index_with_expiry: Script::new(INDEX_WITH_EXPIRY),
                rotate_refresh: Script::new(ROTATE_REFRESH),
                revoke_grant: Script::new(REVOKE_GRANT),
                revoke_grants_of_account: Script::new(REVOKE_GRANTS_OF_ACCOUNT),
                record_failure: Script::new(RECORD_FAILURE),
                record_success: Script::new(RECORD_SUCCESS),
            },
        }))
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// Throttle keys name people (an identifier typed) or addresses: only their digest is kept.
    fn throttle_keys(&self, key: &str) -> (String, String) {
        let digest = crate::crypto::b64url(&crate::crypto::sha256(key.as_bytes()));
        (self.key("th", &digest), self.key("thr", &digest))
    }

    async fn index(&self, set: &str, member: &str, expires_at: i64) -> StoreResult<()> {
        let _: i64 = self
            .scripts
            .index_with_expiry
            .key(set)
            .arg(member)
            .arg(expires_at)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Stores a JSON value that expires at `expires_at` (nothing when that is past).
    async fn put_expiring(&self, key: &str, value: String, expires_at: i64) -> StoreResult<()> {
        let mut conn = self.conn();
        if expires_at <= now() {
            let _: i64 = conn.del(key).await.map_err(backend)?;
            return Ok(());
        }
        let _: () = ::redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EXAT")
            .arg(expires_at)
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        key: &str,
    ) -> StoreResult<Option<T>> {
        let text: Option<String> = self.conn().get(key).await.map_err(backend)?;
        text.map(|t| from_json(what, &t)).transpose()
    }

    fn session_from_fields(fields: Vec<(String, String)>) -> StoreResult<Option<Session>> {
        let Some(base) = fields.iter().find(|(f, _)| f == "base") else {
            return Ok(None);
        };
        let mut session: Session = from_json("session", &base.1)?;
        for (field, value) in &fields {
            if let Some(client) = field.strip_prefix("c:") {
                let client = ClientId::parse(client).map_err(|e| StoreError::Corrupt(e.0))?;
                if !session.clients.contains(&client) {
                    session.clients.push(client);
                }
            } else if let Some(grant) = field.strip_prefix("g:") {
                session.grants.push(GrantId::from_stored(grant.to_owned()));
            } else if field == "up" {
                let up: SecondFactor = from_json("session second factor", value)?;
                session.acr = up.acr;
                session.amr = up.amr;
                session.awaiting_second_factor = false;
            }
        }
        Ok(Some(session))
    }
}

async fn server_version(conn: &mut ConnectionManager) -> Option<(u32, u32)> {
    let info: String = ::redis::cmd("INFO")
        .arg("server")
        .query_async(conn)
        .await
        .ok()?;
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))?;
    let mut parts = line.trim().split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        let _: i64 = self
            .scripts
            .insert_session
            .key(self.key("s", session.sid.as_str()))
            .key(self.key("sa", session.account.as_str()))
            .arg(json(session))
            .arg(session.expires_at)
            .arg(session.account.as_str())
            .arg(session.sid.as_str())
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get_session(&self, sid: &SessionId) -> StoreResult<Option<Session>> {
        let fields: Vec<(String, String)> = self
            .conn()
            .hgetall(self.key("s", sid.as_str()))
            .await
            .map_err(backend)?;
        Self::session_from_fields(fields)
    }

    async fn add_session_grant(
        &self,
        sid: &SessionId,
        client: &ClientId,
        grant: &GrantId,
    ) -> StoreResult<bool> {
        let done: i64 = self
            .scripts
            .add_session_grant
            .key(self.key("s", sid.as_str()))
            .arg(client.as_str())
            .arg(grant.as_str())
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(done == 1)
    }

    async fn remove_session(&self, sid: &SessionId) -> StoreResult<Option<Session>> {
        let fields: Vec<(String, String)> = self
            .scripts
            .remove_session
            .key(self.key("s", sid.as_str()))
            .arg(&self.prefix)
            .arg(sid.as_str())
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Self::session_from_fields(fields)
    }

    async fn upgrade_session(
        &self,
        sid: &SessionId,
        acr: &str,
        amr: &[String],
    ) -> StoreResult<bool> {
        let up = SecondFactor {
            acr: acr.to_owned(),
            amr: amr.to_vec(),
        };
        let done: i64 = self
            .scripts
            .upgrade_session
            .key(self.key("s", sid.as_str()))
            .arg(json(&up))
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(done == 1)
    }

    async fn sessions_of_account(&self, account: &AccountId) -> StoreResult<Vec<Session>> {
        let index = self.key("sa", account.as_str());
        let mut conn = self.conn();
        let sids: Vec<String> = conn.smembers(&index).await.map_err(backend)?;
        let mut sessions = Vec::with_capacity(sids.len());
        for sid in sids {
            let fields: Vec<(String, String)> =
                conn.hgetall(self.key("s", &sid)).await.map_err(backend)?;
            match Self::session_from_fields(fields)? {
                Some(session) => sessions.push(session),
                None => {
                    // Expired: forget it in the index too.
                    let _: i64 = conn.srem(&index, &sid).await.map_err(backend)?;
                }
            }
        }
        Ok(sessions)
    }
}

#[async_trait]
impl PendingLoginStore for RedisStore {
    async fn put_pending_login(
        &self,
        id: &str,
        pending: &PendingLogin,
        ttl: u64,
    ) -> StoreResult<()> {
        let _: () = self
            .conn()
            .set_ex(self.key("p", id), json(pending), ttl.max(1))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        self.get_json("pending login", &self.key("p", id)).await
    }

    async fn remove_pending_login(&self, id: &str) -> StoreResult<()> {
        let _: i64 = self.conn().del(self.key("p", id)).await.map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl CodeStore for RedisStore {
    async fn insert_code(&self, hash: TokenHash, code: &CodeGrant) -> StoreResult<()> {
        let key = self.key("code", &hash.to_b64());
        if code.expires_at <= now() {
            return Ok(());
        }
        let _: () = ::redis::pipe()
            .atomic()
            .hset(&key, "v", json(code))
            .ignore()
            .cmd("EXPIREAT")
            .arg(&key)
            .arg(code.expires_at)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn consume_code(&self, hash: TokenHash) -> StoreResult<CodeConsumption> {
        let (state, value): (i64, Option<String>) = self
            .scripts
            .consume_code
            .key(self.key("code", &hash.to_b64()))
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(match (state, value) {
            (1, Some(v)) => CodeConsumption::Fresh(from_json("code", &v)?),
            (2, Some(v)) => CodeConsumption::Replayed(from_json("code", &v)?),
            _ => CodeConsumption::Unknown,
        })
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn insert_access_token(
        &self,
        hash: TokenHash,
        token: &AccessTokenRecord,
    ) -> StoreResult<()> {
        let digest = hash.to_b64();
        self.put_expiring(&self.key("at", &digest), json(token), token.expires_at)
            .await?;
        if let Some(account) = &token.account
            && token.expires_at > now()
        {
            self.index(
                &self.key("ata", account.as_str()),
                &digest,
                token.expires_at,
            )
            .await?;
        }
        Ok(())
    }

    async fn get_access_token(&self, hash: TokenHash) -> StoreResult<Option<AccessTokenRecord>> {
        self.get_json("access token", &self.key("at", &hash.to_b64()))
            .await
    }

    async fn remove_access_token(&self, hash: TokenHash) -> StoreResult<()> {
        let _: i64 = self
            .conn()
            .del(self.key("at", &hash.to_b64()))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn create_refresh_family(
        &self,
        family: &RefreshFamily,
        refresh: TokenHash,
    ) -> StoreResult<()> {
        if family.expires_at <= now() {
            return Ok(());
        }
        let grant = family.grant.as_str();
        let (fk, rk) = (self.key("f", grant), self.key("r", &refresh.to_b64()));
        let _: () = ::redis::pipe()
            .atomic()
            .hset_multiple(
                &fk,
                &[
                    ("v", json(family)),
                    ("cur", refresh.to_b64()),
                    ("rev", "0".into()),
                ],
            )
            .ignore()
            .cmd("EXPIREAT")
            .arg(&fk)
            .arg(family.expires_at)
            .ignore()
            .cmd("SET")
            .arg(&rk)
            .arg(grant)
            .arg("EXAT")
            .arg(family.expires_at)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.index(
            &self.key("fa", family.account.as_str()),
            grant,
            family.expires_at,
        )
        .await
    }

    async fn rotate_refresh(
        &self,
        presented: TokenHash,
        next: TokenHash,
        _now: i64,
    ) -> StoreResult<RefreshRotation> {
        let (state, value): (i64, Option<String>) = self
            .scripts
            .rotate_refresh
            .key(self.key("r", &presented.to_b64()))
            .arg(presented.to_b64())
            .arg(next.to_b64())
            .arg(&self.prefix)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(match (state, value) {
            (1, Some(v)) => RefreshRotation::Rotated(from_json("refresh family", &v)?),
            (2, Some(v)) => RefreshRotation::Reused(from_json("refresh family", &v)?),
            _ => RefreshRotation::Unknown,
        })
    }

    async fn find_refresh(&self, presented: TokenHash) -> StoreResult<Option<RefreshFamily>> {
        let mut conn = self.conn();
        let digest = presented.to_b64();
        let grant: Option<String> = conn.get(self.key("r", &digest)).await.map_err(backend)?;
        let Some(grant) = grant else {
            return Ok(None);
        };
        let (value, current, revoked): (Option<String>, Option<String>, Option<String>) = conn
            .hget(self.key("f", &grant), &["v", "cur", "rev"])
            .await
            .map_err(backend)?;
        match value {
            Some(v) if current.as_deref() == Some(&digest) && revoked.as_deref() != Some("1") => {
                Ok(Some(from_json("refresh family", &v)?))
            }
            _ => Ok(None),
        }
    }

    async fn revoke_grant(&self, grant: &GrantId, until: i64) -> StoreResult<()> {
        let _: i64 = self
            .scripts
            .revoke_grant
            .key(self.key("f", grant.as_str()))
            .key(self.key("rg", grant.as_str()))
            .arg(until)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn is_grant_revoked(&self, grant: &GrantId) -> StoreResult<bool> {
        self.conn()
            .exists(self.key("rg", grant.as_str()))
            .await
            .map_err(backend)
    }

    async fn revoke_grants_of_account(&self, account: &AccountId) -> StoreResult<usize> {
        let n: i64 = self
            .scripts
            .revoke_grants_of_account
            .key(self.key("fa", account.as_str()))
            .key(self.key("ata", account.as_str()))
            .arg(&self.prefix)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(n as usize)
    }
}

#[async_trait]
impl ThrottleStore for RedisStore {
    async fn attempts(&self, key: &str, now: i64) -> StoreResult<Attempts> {
        let (counters, times) = self.throttle_keys(key);
        let ((consecutive, last), recent): ((Option<u32>, Option<i64>), Vec<i64>) = ::redis::pipe()
            .hget(&counters, &["consecutive", "last"])
            .lrange(&times, 0, -1)
            .query_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(Attempts {
            consecutive: consecutive.unwrap_or(0),
            last_failure_at: last.unwrap_or(0),
            recent: recent
                .into_iter()
                .filter(|t| t + FAILURE_WINDOW_SECONDS > now)
                .collect(),
        })
    }

    async fn record_failure(&self, key: &str, now: i64) -> StoreResult<Attempts> {
        let (counters, times) = self.throttle_keys(key);
        let (consecutive, recent): (u32, Vec<i64>) = self
            .scripts
            .record_failure
            .key(counters)
            .key(times)
            .arg(now)
            .arg(FAILURE_WINDOW_SECONDS)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(Attempts {
            consecutive,
            last_failure_at: now,
            recent,
        })
    }

    async fn record_success(&self, key: &str) -> StoreResult<()> {
        let (counters, _) = self.throttle_keys(key);
        let _: i64 = self
            .scripts
            .record_success
            .key(counters)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn clear_attempts(&self, key: &str) -> StoreResult<()> {
        let (counters, times) = self.throttle_keys(key);
        let _: i64 = self.conn().del(&[counters, times]).await.map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ChallengeStore for RedisStore {
    async fn put_challenge(&self, id: &str, challenge: &Challenge) -> StoreResult<()> {
        self.put_expiring(&self.key("ch", id), json(challenge), challenge.expires_at)
            .await
    }

    async fn get_challenge(&self, id: &str) -> StoreResult<Option<Challenge>> {
        self.get_json("challenge", &self.key("ch", id)).await
    }

    async fn take_challenge(&self, id: &str) -> StoreResult<Option<Challenge>> {
        let text: Option<String> = self
            .conn()
            .get_del(self.key("ch", id))
            .await
            .map_err(backend)?;
        text.map(|t| from_json("challenge", &t)).transpose()
    }
}
