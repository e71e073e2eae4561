//! The searches of `store::directory` in portable SQL: the reach, the filters, every word of
//! the text against folded keys (`LIKE … ESCAPE '\'`), then the keyset `(sort key, id)` after
//! the cursor, one row more than the page to know whether another follows.

use super::super::durable::accounts::account_from_row;
use super::super::durable::partner_from_row;
use super::*;
use crate::store::directory::*;
use sqlx::QueryBuilder;

/// `%word%` with the wildcards of the word itself escaped.
fn contains(word: &str) -> String {
    let escaped = word
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Limits rows to the reach, through the partner's id and Caf columns.
fn push_reach(sql: &mut QueryBuilder<'_, Db>, reach: &Reach, partner: &str, caf: &str) {
    if reach.everything {
        return;
    }
    sql.push(" AND (1 = 0");
    if let Some(c) = &reach.caf {
        sql.push(format!(" OR {caf} = "));
        sql.push_bind(c.as_str().to_owned());
    }
    if let Some(p) = &reach.partner {
        sql.push(format!(" OR {partner} = "));
        sql.push_bind(p.as_str().to_owned());
    }
    sql.push(")");
}

/// Each word must be found in one of `columns` (folded text columns).
fn push_words(sql: &mut QueryBuilder<'_, Db>, words: &[String], columns: &[&str]) {
    for word in words {
        let pattern = contains(word);
        sql.push(" AND (1 = 0");
        for column in columns {
            sql.push(format!(" OR COALESCE({column}, '') LIKE "));
            sql.push_bind(pattern.clone());
            sql.push(" ESCAPE '\\'");
        }
        sql.push(")");
    }
}

fn push_eq(sql: &mut QueryBuilder<'_, Db>, column: &str, value: Option<&str>) {
    if let Some(v) = value {
        sql.push(format!(" AND {column} = "));
        sql.push_bind(v.to_owned());
    }
}

/// After the cursor in the sort order, then the order and the limit (one row more).
fn push_keyset(sql: &mut QueryBuilder<'_, Db>, key: &str, id: &str, window: &Window) {
    let (cmp, dir) = if window.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(after) = &window.after {
        let bind = |sql: &mut QueryBuilder<'_, Db>| match &after.key {
            SortValue::Int(v) => {
                sql.push_bind(*v);
            }
            SortValue::Text(v) => {
                sql.push_bind(v.clone());
            }
        };
        sql.push(format!(" AND ({key} {cmp} "));
        bind(sql);
        sql.push(format!(" OR ({key} = "));
        bind(sql);
        sql.push(format!(" AND {id} {cmp} "));
        sql.push_bind(after.id.clone());
        sql.push("))");
    }
    sql.push(format!(" ORDER BY {key} {dir}, {id} {dir} LIMIT "));
    sql.push_bind(i64::from(window.limit) + 1);
}

impl Store {
    /// Runs a search after its filters: the keyset `(key, id)` (an integer key when `int_key`),
    /// then the page of rows (one more than the limit is asked for) and the next cursor.
    async fn run<T>(
        &self,
        mut sql: QueryBuilder<'_, Db>,
        (key, id, int_key): (&str, &str, bool),
        window: &Window,
        item: impl Fn(&DbRow) -> StoreResult<T>,
    ) -> StoreResult<Page<T>> {
        push_keyset(&mut sql, key, id, window);
        let rows = sql.build().fetch_all(&self.pool).await.map_err(backend)?;
        page(rows, window, int_key, item)
    }
}

/// The page of `rows` (one more than the limit was asked for) and the next cursor.
fn page<T>(
    rows: Vec<DbRow>,
    window: &Window,
    int_key: bool,
    item: impl Fn(&DbRow) -> StoreResult<T>,
) -> StoreResult<Page<T>> {
    let more = rows.len() > window.limit as usize;
    let shown = &rows[..rows.len().min(window.limit as usize)];
    let next = match shown.last() {
        Some(last) if more => Some(Cursor {
            key: if int_key {
                SortValue::Int(last.get("sort_key"))
            } else {
                SortValue::Text(last.get("sort_key"))
            },
            id: last.get("id"),
        }),
        _ => None,
    };
    Ok(Page {
        items: shown.iter().map(item).collect::<StoreResult<_>>()?,
        next,
    })
}

#[async_trait]
impl DirectoryStore for Store {
    async fn search_partners(
        &self,
        reach: &Reach,
        search: &PartnerSearch,
    ) -> StoreResult<Page<Partner>> {
        if reach.is_empty() {
            return Ok(Page::empty());
        }
        let key = match search.sort {
            PartnerSort::Name => "COALESCE(p.name_key, '')",
            PartnerSort::Commune => "COALESCE(p.commune_key, '')",
            PartnerSort::Siret => "COALESCE(p.siret, '')",
        };
        let mut sql = QueryBuilder::<Db>::new(format!(
            "SELECT p.id, p.caf_code, p.name, p.siret, p.commune, {key} AS sort_key
             FROM partners p WHERE 1 = 1"
        ));
        push_reach(&mut sql, reach, "p.id", "p.caf_code");
        push_eq(
            &mut sql,
            "p.caf_code",
            search.caf.as_ref().map(|c| c.as_str()),
        );
        push_words(
            &mut sql,
            &search.window.words,
            &["p.name_key", "p.commune_key", "p.siret"],
        );
        self.run(sql, (key, "p.id", false), &search.window, |r| {
            partner_from_row(r)
        })
        .await
    }

    async fn search_people(
        &self,
        reach: &Reach,
        search: &PersonSearch,
    ) -> StoreResult<Page<PersonHit>> {
        if reach.is_empty() {
            return Ok(Page::empty());
        }
        let (key, int_key) = match search.sort {
            PersonSort::Name => ("COALESCE(a.name_key, '')", false),
            PersonSort::Email => ("a.email", false),
            // Within a partner, by name.
            PersonSort::Partner => (
                "COALESCE(p.name_key, '') || '|' || COALESCE(a.name_key, '')",
                false,
            ),
            PersonSort::Created => ("a.created_at", true),
        };
        let mut sql = QueryBuilder::<Db>::new(format!(
            "SELECT a.*, p.name AS partner_name, {key} AS sort_key
             FROM accounts a JOIN partners p ON p.id = a.partner_id
             WHERE a.email NOT LIKE 'efface-%@compte.invalid'"
        ));
        push_reach(&mut sql, reach, "p.id", "p.caf_code");
        push_eq(
            &mut sql,
            "a.partner_id",
            search.partner.as_ref().map(|p| p.as_str()),
        );
        match search.state {
            None => {}
            Some(PersonState::Closed) => {
                sql.push(" AND a.closed_at IS NOT NULL");
            }
            Some(state) => {
                let status = match state {
                    PersonState::Pending => AccountStatus::Pending,
                    PersonState::Suspended => AccountStatus::Suspended,
                    _ => AccountStatus::Active,
                };
                sql.push(" AND a.closed_at IS NULL AND a.status = ");
                sql.push_bind(status.as_str());
            }
        }
        push_words(
            &mut sql,
            &search.window.words,
            &["a.name_key", "a.email", "LOWER(a.function)"],
        );
        self.run(sql, (key, "a.id", int_key), &search.window, |r| {
            Ok(PersonHit {
                account: account_from_row(r)?,
                partner_name: r.get("partner_name"),
            })
        })
        .await
    }

    async fn search_habilitations(
        &self,
        reach: &Reach,
        search: &HabilitationSearch,
    ) -> StoreResult<Page<HabilitationHit>> {
        if reach.is_empty() {
            return Ok(Page::empty());
        }
        let (key, int_key) = match search.sort {
            HabilitationSort::Holder => ("COALESCE(a.name_key, LOWER(g.name), '')", false),
            HabilitationSort::Service => ("h.client_id || '|' || h.role", false),
            HabilitationSort::ValidUntil => ("COALESCE(h.valid_until, 9223372036854775807)", true),
            HabilitationSort::Granted => ("h.granted_at", true),
        };
        let mut sql = QueryBuilder::<Db>::new(format!(
            "SELECT h.*, p.name AS partner_name,
                COALESCE(a.family_name || ' ' || a.given_name, g.name, '') AS holder_name,
                a.email AS holder_email,
                CAST(CASE WHEN a.id IS NOT NULL AND (a.status = 'suspended' OR a.closed_at IS NOT NULL)
                     THEN 1 ELSE 0 END AS BIGINT) AS holder_blocked,
                {key} AS sort_key
             FROM habilitations h JOIN partners p ON p.id = h.partner_id
             LEFT JOIN accounts a ON a.id = h.account_id
             LEFT JOIN groups g ON g.id = h.group_id
             WHERE 1 = 1"
        ));
        push_reach(&mut sql, reach, "p.id", "p.caf_code");
        push_eq(
            &mut sql,
            "h.partner_id",
            search.partner.as_ref().map(|p| p.as_str()),
        );
        push_eq(
            &mut sql,
            "h.client_id",
            search.client_id.as_ref().map(|c| c.as_str()),
        );
        push_eq(&mut sql, "h.role", search.role.as_ref().map(|r| r.as_str()));
        match search.status {
            None => {
                sql.push(" AND h.status <> 'closed'");
            }
            Some(status) => {
                sql.push(" AND h.status = ");
                sql.push_bind(status.as_str());
            }
        }
        if let Some((from, until)) = search.ending {
            sql.push(" AND h.valid_until >= ");
            sql.push_bind(from);
            sql.push(" AND h.valid_until < ");
            sql.push_bind(until);
        }
        push_words(
            &mut sql,
            &search.window.words,
            &["a.name_key", "LOWER(g.name)", "a.email", "LOWER(h.role)"],
        );
        self.run(sql, (key, "h.id", int_key), &search.window, |r| {
            Ok(HabilitationHit {
                habilitation: habilitation_from_row(r)?,
                partner_name: r.get("partner_name"),
                holder_name: r.get("holder_name"),
                holder_email: r.get("holder_email"),
                holder_blocked: r.get::<i64, _>("holder_blocked") != 0,
            })
        })
        .await
    }
}
