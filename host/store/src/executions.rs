//! Executions and their committed steps. A step is one applied input event: the event, the AWS
//! history events it produced (as one JSON array: few rows per transition), and the execution's
//! new snapshot and status, written together. `next_seq` guards against applying a step twice.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{Error, Result, unique};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    pub id: i64,
    pub tenant_id: i64,
    pub arn: String,
    pub state_machine_arn: String,
    pub name: String,
    /// `STANDARD` or `EXPRESS`.
    pub machine_type: String,
    /// The definition the execution runs (DescribeStateMachineForExecution).
    pub definition: String,
    pub status: String,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub start_ms: i64,
    pub stop_ms: Option<i64>,
}

/// What a new execution starts with.
#[derive(Debug, Clone)]
pub struct NewExecution<'a> {
    pub tenant_id: i64,
    pub arn: &'a str,
    pub state_machine_arn: &'a str,
    pub name: &'a str,
    pub machine_type: &'a str,
    pub definition: &'a str,
    pub input: &'a str,
    pub start_ms: i64,
}

/// One committed step and the execution state after it.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    /// The step's sequence number; must equal the execution's `next_seq`.
    pub seq: i64,
    /// The applied input event (JSON text).
    pub event: &'a str,
    /// Id of the first history event in `history`, and how many there are.
    pub first_event_id: i64,
    pub event_count: i64,
    /// The AWS history events as a JSON array.
    pub history: &'a str,
    /// The execution state to resume from; `None` once it has ended.
    pub snapshot: Option<&'a [u8]>,
    pub status: &'a str,
    pub output: Option<&'a str>,
    pub error: Option<&'a str>,
    pub cause: Option<&'a str>,
    pub stop_ms: Option<i64>,
}

const COLUMNS: &str = "id, tenant_id, arn, state_machine_arn, name, type, definition, status, input, output, error, cause, start_ms, stop_ms";

fn execution(r: &Row<'_>) -> rusqlite::Result<Execution> {
    Ok(Execution {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        arn: r.get(2)?,
        state_machine_arn: r.get(3)?,
        name: r.get(4)?,
        machine_type: r.get(5)?,
        definition: r.get(6)?,
        status: r.get(7)?,
        input: r.get(8)?,
        output: r.get(9)?,
        error: r.get(10)?,
        cause: r.get(11)?,
        start_ms: r.get(12)?,
        stop_ms: r.get(13)?,
    })
}

/// Inserts a RUNNING execution; `Conflict` when its ARN exists.
pub fn insert(c: &Connection, e: &NewExecution<'_>) -> Result<i64> {
    c.prepare_cached("INSERT INTO executions (tenant_id, arn, state_machine_arn, name, type, definition, status, input, start_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'RUNNING', ?7, ?8)")?.execute(
        params![e.tenant_id, e.arn, e.state_machine_arn, e.name, e.machine_type, e.definition, e.input, e.start_ms],
    )
    .map_err(|err| unique(err, || format!("execution {}", e.arn)))?;
    let id = c.last_insert_rowid();
    c.prepare_cached(
        "INSERT INTO open_executions (tenant_id, open) VALUES (?1, 1)
         ON CONFLICT (tenant_id) DO UPDATE SET open = open + 1",
    )?
    .execute([e.tenant_id])?;
    Ok(id)
}

pub fn get(c: &Connection, tenant_id: i64, arn: &str) -> Result<Option<Execution>> {
    let sql = format!("SELECT {COLUMNS} FROM executions WHERE tenant_id = ?1 AND arn = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row(params![tenant_id, arn], execution)
        .optional()?)
}

pub fn by_id(c: &Connection, id: i64) -> Result<Option<Execution>> {
    let sql = format!("SELECT {COLUMNS} FROM executions WHERE id = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([id], execution)
        .optional()?)
}

/// The latest snapshot and the sequence number the next step must carry.
pub fn snapshot(c: &Connection, id: i64) -> Result<Option<(Option<Vec<u8>>, i64)>> {
    Ok(
        c.prepare_cached("SELECT snapshot, next_seq FROM executions WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?,
    )
}

/// Records a step of a RUNNING execution. Fails with `Conflict` if `step.seq` is not the next
/// one (it was applied already, or another writer got there first) or the execution has ended,
/// so a transition is never recorded twice.
pub fn commit_step(c: &Connection, id: i64, step: &Step<'_>) -> Result<()> {
    let n = c.prepare_cached("UPDATE executions SET snapshot = ?3, next_seq = next_seq + 1, status = ?4, output = ?5, error = ?6,
             cause = ?7, stop_ms = ?8
         WHERE id = ?1 AND next_seq = ?2 AND status = 'RUNNING'")?.execute(
        params![id, step.seq, step.snapshot, step.status, step.output, step.error, step.cause, step.stop_ms],
    )?;
    if n == 0 {
        return Err(Error::Conflict(format!(
            "step {} of execution {id}",
            step.seq
        )));
    }
    c.prepare_cached("INSERT INTO steps (execution_id, seq, event, first_event_id, event_count, history) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(
        params![id, step.seq, step.event, step.first_event_id, step.event_count, step.history],
    )?;
    if step.status != "RUNNING" {
        c.prepare_cached(
            "UPDATE open_executions SET open = open - 1
             WHERE tenant_id = (SELECT tenant_id FROM executions WHERE id = ?1)",
        )?
        .execute([id])?;
    }
    Ok(())
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default)]
pub struct ListFilter<'a> {
    pub state_machine_arn: Option<&'a str>,
    pub status: Option<&'a str>,
    /// Only executions whose name contains this text (case-insensitive for ASCII).
    pub name_contains: Option<&'a str>,
    /// Continue after this (start_ms, id): newest first.
    pub before: Option<(i64, i64)>,
    pub limit: usize,
}

/// The tenant's executions, newest first.
pub fn list(c: &Connection, tenant_id: i64, f: &ListFilter<'_>) -> Result<Vec<Execution>> {
    let (before_ms, before_id) = f.before.unwrap_or((i64::MAX, i64::MAX));
    let sql = format!(
        "SELECT {COLUMNS} FROM executions
         WHERE tenant_id = ?1 AND (?2 IS NULL OR state_machine_arn = ?2) AND (?3 IS NULL OR status = ?3)
           AND (start_ms < ?4 OR (start_ms = ?4 AND id < ?5))
           AND (?7 IS NULL OR instr(lower(name), lower(?7)) > 0)
         ORDER BY start_ms DESC, id DESC LIMIT ?6"
    );
    let mut st = c.prepare(&sql)?;
    let rows = st
        .query_map(
            params![
                tenant_id,
                f.state_machine_arn,
                f.status,
                before_ms,
                before_id,
                f.limit as i64,
                f.name_contains
            ],
            execution,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// How many of the tenant's executions are running (the open-executions quota).
pub fn count_open(c: &Connection, tenant_id: i64) -> Result<u64> {
    let n: Option<i64> = c
        .prepare_cached("SELECT open FROM open_executions WHERE tenant_id = ?1")?
        .query_row([tenant_id], |r| r.get(0))
        .optional()?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// Ids of every RUNNING execution (recovery on start).
pub fn open_ids(c: &Connection) -> Result<Vec<i64>> {
    let mut st = c.prepare("SELECT id FROM executions WHERE status = 'RUNNING' ORDER BY id")?;
    let rows = st
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The stored input events in order (replay and audit).
pub fn events(c: &Connection, id: i64) -> Result<Vec<String>> {
    let mut st = c.prepare("SELECT event FROM steps WHERE execution_id = ?1 ORDER BY seq")?;
    let rows = st
        .query_map([id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The id of the execution's newest history event (0 before any).
pub fn last_event_id(c: &Connection, id: i64) -> Result<i64> {
    Ok(c.prepare_cached(
        "SELECT coalesce(max(first_event_id + event_count - 1), 0) FROM steps WHERE execution_id = ?1",
    )?
    .query_row([id], |r| r.get(0))?)
}

/// Up to `limit` history events with ids `>= from_id` (ascending), or `<= from_id` when
/// `reverse` (descending), as JSON values.
pub fn history(
    c: &Connection,
    id: i64,
    from_id: i64,
    limit: usize,
    reverse: bool,
) -> Result<Vec<serde_json::Value>> {
    let sql = if reverse {
        "SELECT first_event_id, history FROM steps WHERE execution_id = ?1 AND first_event_id <= ?2 ORDER BY seq DESC"
    } else {
        "SELECT first_event_id, history FROM steps WHERE execution_id = ?1 AND first_event_id + event_count > ?2 ORDER BY seq"
    };
    let mut st = c.prepare(sql)?;
    let mut rows = st.query(params![id, from_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let first: i64 = r.get(0)?;
        let text: String = r.get(1)?;
        let events: Vec<serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| Error::Corrupt(format!("history of execution {id}: {e}")))?;
        let numbered = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (first + i as i64, e));
        if reverse {
            for (_, e) in numbered.rev().filter(|(n, _)| *n <= from_id) {
                out.push(e);
                if out.len() == limit {
                    return Ok(out);
                }
            }
        } else {
            for (_, e) in numbered.filter(|(n, _)| *n >= from_id) {
                out.push(e);
                if out.len() == limit {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{tenants, test_conn};
    use serde_json::json;

    fn new<'a>(tenant_id: i64, arn: &'a str, start_ms: i64) -> NewExecution<'a> {
        NewExecution {
            tenant_id,
            arn,
            state_machine_arn: "sm",
            name: "e",
            machine_type: "STANDARD",
            definition: "{}",
            input: "{}",
            start_ms,
        }
    }

    fn step<'a>(seq: i64, first: i64, history: &'a str, count: i64) -> Step<'a> {
        Step {
            seq,
            event: "{\"Start\":null}",
            first_event_id: first,
            event_count: count,
            history,
            snapshot: Some(b"snap"),
            status: "RUNNING",
            output: None,
            error: None,
            cause: None,
            stop_ms: None,
        }
    }

    #[test]
    fn steps_are_recorded_once_in_order() {
        let c = test_conn();
        let t = tenants::create(&c, "t", "000000000001", 0).unwrap();
        let id = insert(&c, &new(t.id, "arn:e1", 10)).unwrap();
        assert!(matches!(
            insert(&c, &new(t.id, "arn:e1", 11)),
            Err(Error::Conflict(_))
        ));
        commit_step(&c, id, &step(0, 1, r#"[{"id":1},{"id":2}]"#, 2)).unwrap();
        assert!(
            matches!(
                commit_step(&c, id, &step(0, 3, "[]", 0)),
                Err(Error::Conflict(_))
            ),
            "same seq twice"
        );
        let mut done = step(1, 3, r#"[{"id":3}]"#, 1);
        done.status = "SUCCEEDED";
        done.output = Some("{\"ok\":true}");
        done.stop_ms = Some(20);
        commit_step(&c, id, &done).unwrap();
        let e = get(&c, t.id, "arn:e1").unwrap().unwrap();
        assert_eq!(
            (e.status.as_str(), e.output.as_deref(), e.stop_ms),
            ("SUCCEEDED", Some("{\"ok\":true}"), Some(20))
        );
        assert_eq!(snapshot(&c, id).unwrap(), Some((Some(b"snap".to_vec()), 2)));
        assert_eq!(events(&c, id).unwrap().len(), 2);
        assert_eq!(last_event_id(&c, id).unwrap(), 3);
        assert_eq!(
            history(&c, id, 1, 100, false).unwrap(),
            vec![json!({"id":1}), json!({"id":2}), json!({"id":3})]
        );
        assert_eq!(history(&c, id, 2, 1, false).unwrap(), vec![json!({"id":2})]);
        assert_eq!(
            history(&c, id, 3, 2, true).unwrap(),
            vec![json!({"id":3}), json!({"id":2})]
        );
        assert!(open_ids(&c).unwrap().is_empty());
        assert_eq!(
            count_open(&c, t.id).unwrap(),
            0,
            "the finished execution is no longer open"
        );
        let mut late = step(2, 4, "[]", 0);
        late.status = "FAILED";
        assert!(
            matches!(commit_step(&c, id, &late), Err(Error::Conflict(_))),
            "an ended execution takes no steps"
        );
        assert_eq!(count_open(&c, t.id).unwrap(), 0);
    }

    #[test]
    fn list_filters_and_pages_newest_first() {
        let c = test_conn();
        let t = tenants::create(&c, "t", "000000000001", 0).unwrap();
        let other = tenants::create(&c, "o", "000000000002", 0).unwrap();
        for (i, arn) in ["a", "b", "c"].iter().enumerate() {
            insert(&c, &new(t.id, arn, i as i64)).unwrap();
        }
        insert(&c, &new(other.id, "x", 5)).unwrap();
        let page = list(
            &c,
            t.id,
            &ListFilter {
                limit: 2,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            page.iter().map(|e| e.arn.as_str()).collect::<Vec<_>>(),
            ["c", "b"]
        );
        let last = page.last().unwrap();
        let rest = list(
            &c,
            t.id,
            &ListFilter {
                limit: 2,
                before: Some((last.start_ms, last.id)),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            rest.iter().map(|e| e.arn.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        let running = list(
            &c,
            t.id,
            &ListFilter {
                limit: 10,
                status: Some("SUCCEEDED"),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(running.is_empty());
        let named = list(
            &c,
            t.id,
            &ListFilter {
                limit: 10,
                name_contains: Some("E"),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(named.len(), 3, "name search ignores case");
        let none = list(
            &c,
            t.id,
            &ListFilter {
                limit: 10,
                name_contains: Some("zz"),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(none.is_empty());
        assert_eq!(open_ids(&c).unwrap().len(), 4);
        assert_eq!(
            (
                count_open(&c, t.id).unwrap(),
                count_open(&c, other.id).unwrap()
            ),
            (3, 1)
        );
        assert!(get(&c, other.id, "a").unwrap().is_none());
    }
}
