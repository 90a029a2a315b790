//! The task outbox: a row per scheduled task, from the step that scheduled it until the step that
//! records its outcome. On restart every row is run again (at-least-once), unless it waits on a
//! callback token or an activity worker, which stay valid across restarts.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{Result, unique};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub execution_id: i64,
    pub task_id: i64,
    /// The interpreter's task call (JSON text).
    pub call: String,
    /// Callback or activity token, if the task completes through one.
    pub token: Option<String>,
    /// Set for activity tasks: the activity the worker polls.
    pub activity_arn: Option<String>,
    /// An activity worker has taken it.
    pub started: bool,
}

const COLUMNS: &str = "execution_id, task_id, call, token, activity_arn, started";

fn task(r: &Row<'_>) -> rusqlite::Result<Task> {
    Ok(Task {
        execution_id: r.get(0)?,
        task_id: r.get(1)?,
        call: r.get(2)?,
        token: r.get(3)?,
        activity_arn: r.get(4)?,
        started: r.get(5)?,
    })
}

pub fn insert(c: &Connection, t: &Task) -> Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO tasks ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))?
    .execute(params![
        t.execution_id,
        t.task_id,
        t.call,
        t.token,
        t.activity_arn,
        t.started
    ])
    .map_err(|e| {
        unique(e, || {
            format!("task {} of execution {}", t.task_id, t.execution_id)
        })
    })?;
    Ok(())
}

/// False when the task was not outstanding (its outcome is already recorded).
pub fn delete(c: &Connection, execution_id: i64, task_id: i64) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM tasks WHERE execution_id = ?1 AND task_id = ?2")?
            .execute(params![execution_id, task_id])?
            > 0,
    )
}

pub fn delete_all(c: &Connection, execution_id: i64) -> Result<usize> {
    Ok(
        c.prepare_cached("DELETE FROM tasks WHERE execution_id = ?1")?
            .execute([execution_id])?,
    )
}

pub fn by_token(c: &Connection, token: &str) -> Result<Option<Task>> {
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE token = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([token], task)
        .optional()?)
}

/// Every outstanding task, for recovery.
pub fn all(c: &Connection) -> Result<Vec<Task>> {
    let sql = format!("SELECT {COLUMNS} FROM tasks ORDER BY execution_id, task_id");
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map([], task)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Hands the oldest unclaimed task of `activity_arn` to a worker, marking it started.
pub fn claim_activity(c: &Connection, activity_arn: &str) -> Result<Option<Task>> {
    let sql = format!(
        "UPDATE tasks SET started = 1 WHERE rowid = (
             SELECT rowid FROM tasks WHERE activity_arn = ?1 AND started = 0 ORDER BY rowid LIMIT 1)
         RETURNING {COLUMNS}"
    );
    Ok(c.prepare_cached(&sql)?
        .query_row([activity_arn], task)
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executions::{NewExecution, insert as insert_execution};
    use crate::{Error, tenants, test_conn};

    fn execution(c: &Connection) -> i64 {
        let t = tenants::create(c, "t", "000000000001", 0).unwrap();
        insert_execution(
            c,
            &NewExecution {
                tenant_id: t.id,
                arn: "e",
                state_machine_arn: "sm",
                name: "e",
                machine_type: "STANDARD",
                definition: "{}",
                input: "{}",
                start_ms: 0,
            },
        )
        .unwrap()
    }

    fn t(execution_id: i64, task_id: i64, token: Option<&str>, activity: Option<&str>) -> Task {
        Task {
            execution_id,
            task_id,
            call: "{}".into(),
            token: token.map(str::to_string),
            activity_arn: activity.map(str::to_string),
            started: false,
        }
    }

    #[test]
    fn outbox_tokens_and_activity_claims() {
        let c = test_conn();
        let e = execution(&c);
        insert(&c, &t(e, 1, None, None)).unwrap();
        insert(&c, &t(e, 2, Some("tok"), None)).unwrap();
        insert(&c, &t(e, 3, Some("act1"), Some("arn:act"))).unwrap();
        insert(&c, &t(e, 4, Some("act2"), Some("arn:act"))).unwrap();
        assert!(matches!(
            insert(&c, &t(e, 1, None, None)),
            Err(Error::Conflict(_))
        ));
        assert!(
            matches!(
                insert(&c, &t(e, 9, Some("tok"), None)),
                Err(Error::Conflict(_))
            ),
            "tokens are unique"
        );
        assert_eq!(by_token(&c, "tok").unwrap().unwrap().task_id, 2);
        let first = claim_activity(&c, "arn:act").unwrap().unwrap();
        assert_eq!((first.task_id, first.started), (3, true));
        assert_eq!(claim_activity(&c, "arn:act").unwrap().unwrap().task_id, 4);
        assert!(claim_activity(&c, "arn:act").unwrap().is_none());
        assert!(delete(&c, e, 1).unwrap());
        assert!(!delete(&c, e, 1).unwrap(), "an outcome is recorded once");
        assert_eq!(all(&c).unwrap().len(), 3);
        assert_eq!(delete_all(&c, e).unwrap(), 3);
    }
}
