//! `passerelle traces verify`: walks a stream from its origin, recomputes every hash, checks
//! every link and every seal, and reports the first break.

use crate::state::AppState;
use crate::store::{StoreResult, TraceRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The record does not follow its predecessor (one was removed, inserted or reordered).
    Link { seq: i64 },
    /// The record's content does not match its hash (it was changed).
    Content { seq: i64 },
    /// A seal's signature is wrong, or the record it seals has another hash.
    Seal { seq: i64 },
    /// A seal covers record `sealed`, but the stream ends at `head`: its tail was lost (a
    /// restored backup older than the seal, or records removed from the end).
    Tail { head: i64, sealed: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub stream: String,
    pub records: u64,
    pub seals: u64,
    /// Seals signed by a key no longer published (rotated and expired): their hash is still
    /// compared with the chain, their signature cannot be checked any more.
    pub seals_with_retired_keys: u64,
    pub first_break: Option<Break>,
}

/// Verifies a whole stream: every record from the stream's origin, then every seal.
pub async fn stream(state: &AppState, stream: &str) -> StoreResult<Verification> {
    against(state, stream, &[]).await
}

/// Seals kept outside the trace store (`passerelle traces seals`, written by
/// `passerelle backup`), as compact JWS: those of `stream` whose signature holds.
pub fn witnesses(state: &AppState, jws: &[String], stream: &str) -> Vec<crate::store::Seal> {
    jws.iter()
        .filter_map(|j| {
            let p = state.keys.verify_document(j)?;
            let hash: [u8; 32] = unhex(p["hash"].as_str()?)?.try_into().ok()?;
            (p["stream"] == stream).then(|| crate::store::Seal {
                stream: stream.to_owned(),
                seq: p["seq"].as_i64().unwrap_or_default(),
                hash,
                sealed_at_us: p["sealed_at"].as_i64().unwrap_or_default(),
                signature: j.clone(),
            })
        })
        .collect()
}

/// [`stream`], with `witnesses` (seals kept elsewhere) checked as the store's own: a witness
/// newer than the stream's head reveals a lost tail.
pub async fn against(
    state: &AppState,
    stream: &str,
    witnesses: &[crate::store::Seal],
) -> StoreResult<Verification> {
    let store = state.tracer.store();
    let origin = store.stream_origin(stream).await?;
    let mut previous = origin;
    let mut after = 0;
    let mut records = 0u64;
    let mut hashes = std::collections::HashMap::new();
    let mut first_break = None;
    'walk: loop {
        let page: Vec<TraceRecord> = store.stream_records(stream, after, 5_000).await?;
        if page.is_empty() {
            break;
        }
        for r in &page {
            after = r.seq;
            records += 1;
            if r.prev_hash != previous {
                first_break = Some(Break::Link { seq: r.seq });
                break 'walk;
            }
            if r.trace.chained_hash(&r.prev_hash) != r.hash {
                first_break = Some(Break::Content { seq: r.seq });
                break 'walk;
            }
            previous = r.hash;
            hashes.insert(r.seq, r.hash);
        }
    }
    let mut seals = store.seals(stream).await?;
    for w in witnesses {
        if !seals.iter().any(|s| s.seq == w.seq && s.hash == w.hash) {
            seals.push(w.clone());
        }
    }
    // The stream's last record: a seal past it covers records that are not there any more.
    // When retention destroyed every record, the last one's hash is the origin, and its seal
    // (if any) gives its number; without that seal nothing tells a destroyed record from a lost
    // one, and the check is left to the attestations.
    let head = store
        .stream_head(stream)
        .await?
        .map(|(seq, _)| seq)
        .or_else(|| {
            seals
                .iter()
                .filter(|s| s.hash == origin)
                .map(|s| s.seq)
                .max()
        });
    let all_destroyed = head.is_none() && origin != crate::store::GENESIS;
    if first_break.is_none()
        && !all_destroyed
        && let Some(sealed) = seals.iter().map(|s| s.seq).max()
        && head.is_none_or(|head| sealed > head)
    {
        first_break = Some(Break::Tail {
            head: head.unwrap_or(0),
            sealed,
        });
    }
    let published: Vec<String> = state.keys.jwks()["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut retired = 0;
    if first_break.is_none() {
        for seal in &seals {
            if seal_kid(&seal.signature).is_some_and(|k| !published.contains(&k)) {
                retired += 1;
                if hashes.get(&seal.seq).is_some_and(|h| *h != seal.hash) {
                    first_break = Some(Break::Seal { seq: seal.seq });
                    break;
                }
                continue;
            }
            let payload = state.keys.verify_document(&seal.signature);
            let signed_ok = payload.as_ref().is_some_and(|p| {
                p["stream"] == stream && p["seq"] == seal.seq && p["hash"] == hex(&seal.hash)
            });
            // A seal of a destroyed record cannot be checked against it, only its signature.
            let matches = hashes.get(&seal.seq).is_none_or(|h| *h == seal.hash);
            if !signed_ok || !matches {
                first_break = Some(Break::Seal { seq: seal.seq });
                break;
            }
        }
    }
    Ok(Verification {
        stream: stream.to_owned(),
        records,
        seals: seals.len() as u64,
        seals_with_retired_keys: retired,
        first_break,
    })
}

pub use crate::crypto::hex;

/// The bytes a lower-case hex string spells (`hex`'s inverse).
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The `kid` in a compact JWS header.
fn seal_kid(jws: &str) -> Option<String> {
    use base64::Engine;
    let header = jws.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value["kid"].as_str().map(str::to_owned)
}
