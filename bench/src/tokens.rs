//! The token rows, read against the HTTP floor measured at the same connections: the floor
//! itself, client_credentials, refresh (RS256 and ES256 ID tokens), introspection, userinfo
//! and JWKS.

use crate::flows::{self, Flows};
use crate::load::{self, Process, Sample};
use crate::report::Row;
use anyhow::Context;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Measures the rows; answers them with the people signed in for them (their tokens serve
/// the measures that follow).
pub async fn rows(
    flows: &Flows,
    args: &crate::Args,
    seconds: Duration,
    process: Process,
    row: &dyn Fn(&str, &str, usize, &Sample) -> Row,
) -> anyhow::Result<(Vec<Row>, Arc<People>)> {
    let (connections, accounts) = (args.connections, args.accounts);
    let mut rows = Vec::new();
    // What the HTTP stack alone allows at these connections: the rows below are read as a
    // fraction of it.
    let f = flows.clone();
    let floor = load::drive(connections, seconds, process, move |_, _| {
        let f = f.clone();
        async move { f.healthz().await.map(|_| 1) }
    })
    .await;
    let floor_row = row("HTTP floor (/healthz)", "request", connections, &floor);
    let floor_rate = floor_row.per_second.max(1e-9);
    rows.push(floor_row);
    let floor_row_at = rows.len();

    let cc = drive_grants(flows, connections, seconds, process).await;
    rows.push(row("client_credentials grant", "grant", connections, &cc));

    let people = Arc::new(sign_in(flows, connections, accounts).await?);
    let refresh = drive_refresh(flows, &people, connections, seconds, process).await;
    rows.push(row(
        "refresh grant (rotation)",
        "grant",
        connections,
        &refresh,
    ));
    // The same grant for an application whose ID tokens are signed with ES256: what the
    // RS256 signature costs a refresh.
    let es256 = flows.as_client(flows::CLIENT_ES256);
    let signed_in = sign_in(&es256, connections, accounts).await?;
    let refresh = drive_refresh(&es256, &Arc::new(signed_in), connections, seconds, process).await;
    rows.push(row(
        "refresh grant (rotation), ES256 ID token",
        "grant",
        connections,
        &refresh,
    ));

    // The access tokens of the people signed in above (the refresh grants did not revoke them).
    let (f, p) = (flows.clone(), people.clone());
    let introspection = load::drive(connections, seconds, process, move |w, _| {
        let (f, p) = (f.clone(), p.clone());
        async move { f.introspect(&p.access[w]).await.map(|_| 1) }
    })
    .await;
    rows.push(row(
        "introspection (a person's token)",
        "request",
        connections,
        &introspection,
    ));

    let (f, p) = (flows.clone(), people.clone());
    let userinfo = load::drive(connections, seconds, process, move |w, _| {
        let (f, p) = (f.clone(), p.clone());
        async move { f.userinfo(&p.access[w]).await.map(|_| 1) }
    })
    .await;
    rows.push(row("userinfo", "request", connections, &userinfo));

    let f = flows.clone();
    let jwks = load::drive(connections, seconds, process, move |_, _| {
        let f = f.clone();
        async move { f.jwks().await.map(|_| 1) }
    })
    .await;
    rows.push(row("JWKS", "request", connections, &jwks));
    for r in &mut rows[floor_row_at..] {
        r.of_floor = Some(r.per_second / floor_rate);
    }
    println!(
        "of the HTTP floor: {}",
        rows[floor_row_at..]
            .iter()
            .map(|r| format!("{} {:.0} %", r.measure, r.of_floor.unwrap_or(0.0) * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok((rows, people))
}

/// The person-bound tokens each connection uses for refresh, introspection and userinfo.
pub struct People {
    pub access: Vec<String>,
    pub refresh: Vec<Mutex<String>>,
    pub sub: String,
}

async fn sign_in(flows: &Flows, count: usize, accounts: usize) -> anyhow::Result<People> {
    let mut access = Vec::new();
    let mut refresh = Vec::new();
    for i in 0..count {
        let tokens = flows
            .login(i % accounts)
            .await
            .context("a login for the token measures failed")?;
        anyhow::ensure!(
            !tokens.refresh.is_empty(),
            "the code grant gave no refresh token"
        );
        access.push(tokens.access);
        refresh.push(Mutex::new(tokens.refresh));
    }
    let sub = flows
        .userinfo(&access[0])
        .await
        .context("userinfo did not answer")?;
    Ok(People {
        access,
        refresh,
        sub,
    })
}

pub async fn drive_grants(
    flows: &Flows,
    connections: usize,
    duration: Duration,
    process: Process,
) -> Sample {
    let f = flows.clone();
    load::drive(connections, duration, process, move |_, _| {
        let f = f.clone();
        async move { f.client_credentials("").await.map(|_| 1) }
    })
    .await
}

/// Refresh grants, each connection rotating its own person's refresh token.
async fn drive_refresh(
    flows: &Flows,
    people: &Arc<People>,
    connections: usize,
    duration: Duration,
    process: Process,
) -> Sample {
    let (f, p) = (flows.clone(), people.clone());
    load::drive(connections, duration, process, move |w, _| {
        let (f, p) = (f.clone(), p.clone());
        async move {
            let current = p.refresh[w].lock().expect("a refresh token").clone();
            let next = f.refresh(&current).await?;
            *p.refresh[w].lock().expect("a refresh token") = next;
            Some(1)
        }
    })
    .await
}
