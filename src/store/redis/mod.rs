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
//!
//! Behind Redis Sentinel (`redis-sentinel://…`, see `sentinel`), the store asks the sentinels
//! for the primary at start-up and every second after, and moves its connection to the new
//! primary once they have promoted one.

use super::*;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{AsyncCommands, Script};
use anyhow::Context;
use std::time::Duration;

pub mod sentinel;
mod sessions;
mod throttle;
mod tokens;

pub struct RedisStore {
    /// The primary's connection; replaced when Sentinel names another primary.
    conn: std::sync::RwLock<ConnectionManager>,
    /// Replicas every write must reach, and how long to wait for them (`sessions.wait_*`).
    wait: Option<(u32, u64)>,
    prefix: String,
    scripts: Scripts,
}

struct Scripts {
    insert_session: Script,
    add_session_grant: Script,
    upgrade_session: Script,
    touch_session: Script,
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
redis.call('HSET', KEYS[1], 'c:' .. ARGV[1], '')
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'g:' .. ARGV[2], '') end
return 1";

const UPGRADE_SESSION: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'up', ARGV[1])
return 1";

const TOUCH_SESSION: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local seen = tonumber(redis.call('HGET', KEYS[1], 'seen') or '0')
if tonumber(ARGV[1]) > seen then redis.call('HSET', KEYS[1], 'seen', ARGV[1]) end
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
  local g = redis.call('HMGET', fk, 'prev', 'at')
  local grace = tonumber(ARGV[5])
  if grace > 0 and g[1] == ARGV[1] and tonumber(ARGV[4]) - tonumber(g[2]) <= grace then
    return {3, f[1]}
  end
  redis.call('HSET', fk, 'rev', '1')
  redis.call('SET', ARGV[3] .. 'rg:' .. grant, '1', 'EXAT', exp)
  return {2, f[1]}
end
redis.call('HSET', fk, 'cur', ARGV[2], 'prev', ARGV[1], 'at', ARGV[4])
local idle = tonumber(redis.call('HGET', fk, 'idle') or '0')
local upto = exp
if idle > 0 and tonumber(ARGV[4]) + idle < exp then upto = tonumber(ARGV[4]) + idle end
redis.call('SET', ARGV[3] .. 'r:' .. ARGV[2], grant, 'EXAT', upto)
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
        Ok(mut u) if !sentinel::is_sentinel_url(url) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        // A list of hosts (redis-sentinel://) is no URL the url crate reads: the password is
        // what lies between the first `:` of the user part and its `@`.
        _ => match url.split_once("://") {
            Some((scheme, rest)) => {
                let authority = rest.split('/').next().unwrap_or_default();
                match authority.rsplit_once('@') {
                    Some((userinfo, _)) => {
                        let user = userinfo.split(':').next().unwrap_or_default();
                        let hidden = if userinfo.contains(':') {
                            format!("{user}:***")
                        } else {
                            user.to_owned()
                        };
                        format!("{scheme}://{hidden}{}", &rest[userinfo.len()..])
                    }
                    None => url.to_owned(),
                }
            }
            None => "(unparseable URL)".into(),
        },
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
        Self::connect_with(&crate::config::SessionsConfig {
            url: url.to_owned(),
            key_prefix: prefix.to_owned(),
            ..Default::default()
        })
        .await
    }

    /// `sessions.url` is `redis://`, `rediss://` or, behind Sentinel, `redis-sentinel://` (see
    /// `sentinel::Target`), with `sessions.sentinel_password` for the sentinels themselves;
    /// `sessions.wait_replicas` makes every write wait for that many replicas (`WAIT`).
    pub async fn connect_with(config: &crate::config::SessionsConfig) -> anyhow::Result<Arc<Self>> {
        let (url, sentinel_password, prefix) = (
            config.url.as_str(),
            config.sentinel_password.as_str(),
            config.key_prefix.as_str(),
        );
        // rediss:// uses rustls on the process's provider (commands reach here without
        // Application::build, which installs it too).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let shown = redacted(url);
        let (client, watch) = if sentinel::is_sentinel_url(url) {
            let target = sentinel::Target::parse(url)
                .map_err(|e| anyhow::anyhow!("sessions.url {shown}: {e}"))?;
            let mut sentinels = target.client(sentinel_password)?;
            let primary =
                tokio::time::timeout(Duration::from_secs(5), sentinels.async_get_client())
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!("the sentinels at {shown} did not answer within 5 s")
                    })?
                    .with_context(|| {
                        format!("cannot reach the Redis primary through Sentinel at {shown}")
                    })?;
            (primary, Some(sentinels))
        } else {
            let client = ::redis::Client::open(url)
                .with_context(|| format!("sessions.url {shown} is not a Redis URL"))?;
            (client, None)
        };
        let addr = client.get_connection_info().addr.clone();
        let mut conn = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client, manager_config()),
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
        let store = Arc::new(Self {
            conn: std::sync::RwLock::new(conn),
            wait: (config.wait_replicas > 0)
                .then_some((config.wait_replicas, config.wait_timeout_ms)),
            prefix: prefix.to_owned(),
            scripts: Scripts {
                insert_session: Script::new(INSERT_SESSION),
                add_session_grant: Script::new(ADD_SESSION_GRANT),
                upgrade_session: Script::new(UPGRADE_SESSION),
                touch_session: Script::new(TOUCH_SESSION),
                remove_session: Script::new(REMOVE_SESSION),
                consume_code: Script::new(CONSUME_CODE),
                index_with_expiry: Script::new(INDEX_WITH_EXPIRY),
                rotate_refresh: Script::new(ROTATE_REFRESH),
                revoke_grant: Script::new(REVOKE_GRANT),
                revoke_grants_of_account: Script::new(REVOKE_GRANTS_OF_ACCOUNT),
                record_failure: Script::new(RECORD_FAILURE),
                record_success: Script::new(RECORD_SUCCESS),
            },
        });
        if let Some(sentinels) = watch {
            tokio::spawn(sentinel::follow_primary(
                Arc::downgrade(&store),
                sentinels,
                addr,
            ));
        }
        Ok(store)
    }

    /// Moves every later operation to the primary `client` names (after a failover).
    async fn switch_to(&self, client: ::redis::Client) -> ::redis::RedisResult<()> {
        let conn = ConnectionManager::new_with_config(client, manager_config()).await?;
        *self.conn.write().unwrap_or_else(|e| e.into_inner()) = conn;
        Ok(())
    }

    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// With `sessions.wait_replicas`, returns once that many replicas hold every write this
    /// process made so far (`WAIT` on the shared connection), or fails: the write is then not
    /// acknowledged (503), though it may still reach the replicas later.
    async fn replicated(&self) -> StoreResult<()> {
        let Some((replicas, timeout_ms)) = self.wait else {
            return Ok(());
        };
        let reached: u32 = ::redis::cmd("WAIT")
            .arg(replicas)
            .arg(timeout_ms)
            .query_async(&mut self.conn())
            .await
            .map_err(backend)?;
        if reached < replicas {
            return Err(StoreError::Backend(anyhow::anyhow!(
                "Redis: a write reached {reached} of the {replicas} replica(s) sessions.wait_replicas asks for within {timeout_ms} ms"
            )));
        }
        Ok(())
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.read().unwrap_or_else(|e| e.into_inner()).clone()
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
            } else if field == "seen" {
                session.last_seen = value
                    .parse()
                    .map_err(|_| StoreError::Corrupt("session last_seen".into()))?;
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

/// Fails fast while the server is away: two retries, half a second apart at most.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(Duration::from_secs(2))
        .set_number_of_retries(2)
        .set_max_delay(500)
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
