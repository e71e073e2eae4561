//! Seals and destruction attestations, both signed with Passerelle's RS256 key so that anyone
//! holding the JWKS can check them.

use super::verify::hex;
use super::{Event, now_us};
use crate::state::AppState;
use crate::store::{
    Attestation, DestroyedRange, Outcome, Seal, SigningAlg, StoreError, StoreResult,
};

/// Signs a statement with the active RS256 key (checkable by anyone holding the JWKS).
pub(crate) fn sign(
    state: &AppState,
    typ: &str,
    payload: &serde_json::Value,
) -> StoreResult<String> {
    let key = state
        .keys
        .active(SigningAlg::RS256)
        .ok_or_else(|| StoreError::Backend(anyhow::anyhow!("no active RS256 key")))?;
    key.sign_compact(Some(typ), payload)
        .map_err(|e| StoreError::Backend(anyhow::anyhow!("cannot sign: {e:?}")))
}

/// Seals the head of every stream that grew since its last seal; returns how many seals.
pub async fn seal_all(state: &AppState) -> StoreResult<usize> {
    let store = state.tracer.store();
    let mut sealed = 0;
    for stream in store.streams().await? {
        let Some((seq, hash)) = store.stream_head(&stream).await? else {
            continue;
        };
        if store
            .seals(&stream)
            .await?
            .last()
            .is_some_and(|s| s.seq >= seq)
        {
            continue;
        }
        let at = now_us();
        let payload = serde_json::json!({
            "iss": state.settings.issuer,
            "stream": stream,
            "seq": seq,
            "hash": hex(&hash),
            "sealed_at": at,
        });
        store
            .insert_seal(&Seal {
                signature: sign(state, "trace-seal+jwt", &payload)?,
                stream,
                seq,
                hash,
                sealed_at_us: at,
            })
            .await?;
        sealed += 1;
    }
    Ok(sealed)
}

/// Destroys the traces older than `before_us` in every stream, a few thousand per
/// transaction so that submissions wait at most one short transaction, and signs one
/// attestation per stream that lost records.
pub async fn destroy_before(state: &AppState, before_us: i64) -> StoreResult<Vec<Attestation>> {
    let store = state.tracer.store();
    let ranges = match store.drop_months_before(before_us).await? {
        Some(ranges) => ranges,
        None => {
            let mut ranges = Vec::new();
            for stream in store.streams().await? {
                let mut range: Option<(crate::store::TraceRecord, crate::store::TraceRecord)> =
                    None;
                let mut count = 0u64;
                while let Some((first, last, n)) = state
                    .tracer
                    .destroy_oldest(&stream, before_us, 2_000)
                    .await?
                {
                    count += n;
                    range = Some(match range {
                        None => (first, last),
                        Some((f, _)) => (f, last),
                    });
                }
                if let Some((first, last)) = range {
                    ranges.push(DestroyedRange {
                        stream,
                        from_us: first.trace.at_us,
                        to_us: last.trace.at_us,
                        count,
                        first_hash: first.hash,
                        last_hash: last.hash,
                    });
                }
            }
            ranges
        }
    };
    // The dashboard's counters go with the traces they counted.
    store.forget_counts_before(before_us).await?;
    let mut attestations = Vec::new();
    for DestroyedRange {
        stream,
        from_us,
        to_us,
        count,
        first_hash,
        last_hash,
    } in ranges
    {
        let destroyed_at = now_us();
        let id = uuid::Uuid::new_v4().to_string();
        let payload = serde_json::json!({
            "iss": state.settings.issuer,
            "type": "attestation-de-destruction-des-traces",
            "id": id,
            "stream": stream,
            "destroyed_at": destroyed_at,
            "from": from_us,
            "to": to_us,
            "count": count,
            "first_hash": hex(&first_hash),
            "last_hash": hex(&last_hash),
        });
        let attestation = Attestation {
            signature: sign(state, "destruction+jwt", &payload)?,
            id: id.clone(),
            stream,
            destroyed_at_us: destroyed_at,
            from_us,
            to_us,
            count,
            first_hash,
            last_hash,
        };
        store.insert_attestation(&attestation).await?;
        state
            .tracer
            .record_durable(
                Event::new("trace.retention", Outcome::Success).target(format!("attestation:{id}")),
            )
            .await?;
        attestations.push(attestation);
    }
    Ok(attestations)
}
