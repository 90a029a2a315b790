//! One row per function invocation: when, what it cost, how it ended and the guest's logs
//! (already bounded by the runtime), linked to the execution and task that made it, if any.

use rusqlite::{Connection, Row, params};

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub id: i64,
    pub tenant_id: i64,
    pub function_name: String,
    pub execution_arn: Option<String>,
    pub task_id: Option<i64>,
    /// The Task state, and the id of its `*Scheduled` event in the execution's history.
    pub state_name: Option<String>,
    pub event_id: Option<i64>,
    pub started_ms: i64,
    pub elapsed_us: i64,
    pub fuel: i64,
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `TRAPPED`.
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// The guest's log lines and stderr, as text.
    pub logs: String,
}

const COLUMNS: &str = "id, tenant_id, function_name, execution_arn, task_id, started_ms, \
                       elapsed_us, fuel, status, error, cause, logs, state_name, event_id";

fn invocation(r: &Row<'_>) -> rusqlite::Result<Invocation> {
    Ok(Invocation {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        function_name: r.get(2)?,
        execution_arn: r.get(3)?,
        task_id: r.get(4)?,
        started_ms: r.get(5)?,
        elapsed_us: r.get(6)?,
        fuel: r.get(7)?,
        status: r.get(8)?,
        error: r.get(9)?,
        cause: r.get(10)?,
        logs: r.get(11)?,
        state_name: r.get(12)?,
        event_id: r.get(13)?,
    })
}

/// Records an invocation (its `id` is ignored) and returns the id it got.
pub fn record(c: &Connection, i: &Invocation) -> Result<i64> {
    c.prepare_cached(
        "INSERT INTO invocations (tenant_id, function_name, execution_arn, task_id, started_ms,
                                  elapsed_us, fuel, status, error, cause, logs, state_name,
                                  event_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        i.tenant_id,
        i.function_name,
        i.execution_arn,
        i.task_id,
        i.started_ms,
        i.elapsed_us,
        i.fuel,
        i.status,
        i.error,
        i.cause,
        i.logs,
        i.state_name,
        i.event_id
    ])?;
    Ok(c.last_insert_rowid())
}

/// The function's latest invocations, newest first.
pub fn recent(
    c: &Connection,
    tenant_id: i64,
    function_name: &str,
    limit: usize,
) -> Result<Vec<Invocation>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invocations WHERE tenant_id = ?1 AND function_name = ?2
         ORDER BY id DESC LIMIT ?3"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map(params![tenant_id, function_name, limit as i64], invocation)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The invocations an execution made (those of one scheduled event, if `event_id` is
/// given), oldest first.
pub fn of_execution(
    c: &Connection,
    tenant_id: i64,
    execution_arn: &str,
    event_id: Option<i64>,
) -> Result<Vec<Invocation>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invocations WHERE tenant_id = ?1 AND execution_arn = ?2
         AND (?3 IS NULL OR event_id = ?3) ORDER BY id"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map(params![tenant_id, execution_arn, event_id], invocation)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Drops a function's invocations beyond its newest `keep`; returns how many went.
pub fn prune(c: &Connection, tenant_id: i64, function_name: &str, keep: usize) -> Result<usize> {
    Ok(c.prepare_cached(
        "DELETE FROM invocations WHERE tenant_id = ?1 AND function_name = ?2 AND id <=
               (SELECT id FROM invocations WHERE tenant_id = ?1 AND function_name = ?2
                ORDER BY id DESC LIMIT 1 OFFSET ?3)",
    )?
    .execute(params![tenant_id, function_name, keep as i64])?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{tenants, test_conn};

    fn sample(tenant_id: i64, f: &str, execution: Option<&str>) -> Invocation {
        Invocation {
            id: 0,
            tenant_id,
            function_name: f.into(),
            execution_arn: execution.map(str::to_string),
            task_id: execution.map(|_| 3),
            state_name: execution.map(|_| "Charge".into()),
            event_id: execution.map(|_| 5),
            started_ms: 10,
            elapsed_us: 31,
            fuel: 1000,
            status: "SUCCEEDED".into(),
            error: None,
            cause: None,
            logs: "[info] hi\n".into(),
        }
    }

    #[test]
    fn invocations_are_listed_per_function_and_execution_and_pruned() {
        let c = test_conn();
        let a = tenants::create(&c, "a", "111111111111", 0).unwrap().id;
        let b = tenants::create(&c, "b", "222222222222", 0).unwrap().id;
        let ids: Vec<i64> = (0..5)
            .map(|_| record(&c, &sample(a, "f", Some("arn:x"))).unwrap())
            .collect();
        record(&c, &sample(a, "g", None)).unwrap();
        record(&c, &sample(b, "f", Some("arn:x"))).unwrap();
        let newest: Vec<i64> = recent(&c, a, "f", 2)
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(newest, [ids[4], ids[3]]);
        assert_eq!(of_execution(&c, a, "arn:x", None).unwrap().len(), 5);
        assert_eq!(of_execution(&c, b, "arn:x", None).unwrap().len(), 1);
        let of_event = of_execution(&c, a, "arn:x", Some(5)).unwrap();
        assert_eq!(of_event.len(), 5);
        assert_eq!(of_event[0].state_name.as_deref(), Some("Charge"));
        assert!(of_execution(&c, a, "arn:x", Some(6)).unwrap().is_empty());
        assert_eq!(prune(&c, a, "f", 2).unwrap(), 3);
        assert_eq!(recent(&c, a, "f", 10).unwrap().len(), 2);
        assert_eq!(recent(&c, a, "g", 10).unwrap().len(), 1);
        assert_eq!(prune(&c, a, "f", 2).unwrap(), 0);
    }
}
