//! Human approvals: the inbox of tasks waiting on a `.waitForTaskToken` token (outbox rows with a
//! token and no activity), and the audit of decisions taken on them. A decision row is written
//! before the task is completed; its key (tenant, token) makes a second decision a `Conflict`.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{Result, unique};

/// A task waiting for someone to send its token back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub execution_id: i64,
    pub execution_arn: String,
    pub execution_name: String,
    pub state_machine_arn: String,
    pub task_id: i64,
    pub token: String,
    /// The interpreter's task call (JSON text: state name, resource, input).
    pub call: String,
    pub execution_start_ms: i64,
}

/// The tenant's waiting tasks of running executions without a decision, oldest execution first.
pub fn pending(c: &Connection, tenant_id: i64, limit: usize) -> Result<Vec<Pending>> {
    let mut st = c.prepare_cached(
        "SELECT e.id, e.arn, e.name, e.state_machine_arn, t.task_id, t.token, t.call, e.start_ms
         FROM tasks t JOIN executions e ON e.id = t.execution_id
         WHERE e.tenant_id = ?1 AND e.status = 'RUNNING'
           AND t.token IS NOT NULL AND t.activity_arn IS NULL
           AND NOT EXISTS (SELECT 1 FROM approval_decisions d WHERE d.tenant_id = ?1 AND d.token = t.token)
         ORDER BY e.start_ms, e.id, t.task_id LIMIT ?2",
    )?;
    let rows = st
        .query_map(params![tenant_id, limit as i64], |r| {
            Ok(Pending {
                execution_id: r.get(0)?,
                execution_arn: r.get(1)?,
                execution_name: r.get(2)?,
                state_machine_arn: r.get(3)?,
                task_id: r.get(4)?,
                token: r.get(5)?,
                call: r.get(6)?,
                execution_start_ms: r.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The tenant's waiting task with this token, if it is waiting (decided or not).
pub fn waiting(c: &Connection, tenant_id: i64, token: &str) -> Result<Option<Pending>> {
    Ok(c.prepare_cached(
        "SELECT e.id, e.arn, e.name, e.state_machine_arn, t.task_id, t.token, t.call, e.start_ms
         FROM tasks t JOIN executions e ON e.id = t.execution_id
         WHERE e.tenant_id = ?1 AND t.token = ?2 AND t.activity_arn IS NULL",
    )?
    .query_row(params![tenant_id, token], |r| {
        Ok(Pending {
            execution_id: r.get(0)?,
            execution_arn: r.get(1)?,
            execution_name: r.get(2)?,
            state_machine_arn: r.get(3)?,
            task_id: r.get(4)?,
            token: r.get(5)?,
            call: r.get(6)?,
            execution_start_ms: r.get(7)?,
        })
    })
    .optional()?)
}

/// One recorded decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub tenant_id: i64,
    pub token: String,
    pub execution_arn: String,
    pub state_name: String,
    /// `APPROVED` or `REJECTED`.
    pub decision: String,
    pub comment: String,
    /// Who decided: the access key id of the session.
    pub actor: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub decided_ms: i64,
}

const COLUMNS: &str = "tenant_id, token, execution_arn, state_name, decision, comment, actor, output, error, cause, decided_ms";

fn decision(r: &Row<'_>) -> rusqlite::Result<Decision> {
    Ok(Decision {
        tenant_id: r.get(0)?,
        token: r.get(1)?,
        execution_arn: r.get(2)?,
        state_name: r.get(3)?,
        decision: r.get(4)?,
        comment: r.get(5)?,
        actor: r.get(6)?,
        output: r.get(7)?,
        error: r.get(8)?,
        cause: r.get(9)?,
        decided_ms: r.get(10)?,
    })
}

/// Records a decision; `Conflict` when the token was decided already.
pub fn record(c: &Connection, d: &Decision) -> Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO approval_decisions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?
    .execute(params![
        d.tenant_id,
        d.token,
        d.execution_arn,
        d.state_name,
        d.decision,
        d.comment,
        d.actor,
        d.output,
        d.error,
        d.cause,
        d.decided_ms
    ])
    .map_err(|e| unique(e, || "a decision on this task".to_string()))?;
    Ok(())
}

/// Removes a decision whose task could not be completed (so it is not reported as taken).
pub fn withdraw(c: &Connection, tenant_id: i64, token: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM approval_decisions WHERE tenant_id = ?1 AND token = ?2")?
            .execute(params![tenant_id, token])?
            > 0,
    )
}

pub fn get(c: &Connection, tenant_id: i64, token: &str) -> Result<Option<Decision>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM approval_decisions WHERE tenant_id = ?1 AND token = ?2"
    ))?
    .query_row(params![tenant_id, token], decision)
    .optional()?)
}

/// The tenant's decisions, newest first, optionally of one execution.
pub fn list(
    c: &Connection,
    tenant_id: i64,
    execution_arn: Option<&str>,
    limit: usize,
) -> Result<Vec<Decision>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM approval_decisions
         WHERE tenant_id = ?1 AND (?2 IS NULL OR execution_arn = ?2)
         ORDER BY decided_ms DESC, rowid DESC LIMIT ?3"
    ))?;
    let rows = st
        .query_map(params![tenant_id, execution_arn, limit as i64], decision)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executions::{NewExecution, insert as insert_execution};
    use crate::tasks::{Task, insert as insert_task};
    use crate::{Error, tenants, test_conn};

    fn execution(c: &Connection, tenant_id: i64, arn: &str) -> i64 {
        insert_execution(
            c,
            &NewExecution {
                tenant_id,
                arn,
                state_machine_arn: "sm",
                name: arn,
                machine_type: "STANDARD",
                definition: "{}",
                input: "{}",
                start_ms: 0,
            },
        )
        .unwrap()
    }

    fn task(execution_id: i64, task_id: i64, token: Option<&str>, activity: Option<&str>) -> Task {
        Task {
            execution_id,
            task_id,
            call: r#"{"state_name":"Approve"}"#.into(),
            token: token.map(str::to_string),
            activity_arn: activity.map(str::to_string),
            started: false,
        }
    }

    fn decided(tenant_id: i64, token: &str, ms: i64) -> Decision {
        Decision {
            tenant_id,
            token: token.into(),
            execution_arn: "e1".into(),
            state_name: "Approve".into(),
            decision: "APPROVED".into(),
            comment: "ok".into(),
            actor: "AK".into(),
            output: Some("{}".into()),
            error: None,
            cause: None,
            decided_ms: ms,
        }
    }

    #[test]
    fn inbox_holds_undecided_callback_tasks_of_the_tenant() {
        let c = test_conn();
        let a = tenants::create(&c, "a", "000000000001", 0).unwrap();
        let b = tenants::create(&c, "b", "000000000002", 0).unwrap();
        let e1 = execution(&c, a.id, "e1");
        let e2 = execution(&c, b.id, "e2");
        insert_task(&c, &task(e1, 1, Some("tok1"), None)).unwrap();
        insert_task(&c, &task(e1, 2, None, None)).unwrap();
        insert_task(&c, &task(e1, 3, Some("act"), Some("arn:act"))).unwrap();
        insert_task(&c, &task(e1, 4, Some("tok4"), None)).unwrap();
        insert_task(&c, &task(e2, 1, Some("tokb"), None)).unwrap();
        let tokens = |t| -> Vec<String> {
            pending(&c, t, 10)
                .unwrap()
                .into_iter()
                .map(|p| p.token)
                .collect()
        };
        assert_eq!(tokens(a.id), ["tok1", "tok4"]);
        assert_eq!(tokens(b.id), ["tokb"]);
        assert!(waiting(&c, b.id, "tok1").unwrap().is_none(), "other tenant");
        assert!(waiting(&c, a.id, "act").unwrap().is_none(), "activities");

        record(&c, &decided(a.id, "tok1", 5)).unwrap();
        assert!(matches!(
            record(&c, &decided(a.id, "tok1", 6)),
            Err(Error::Conflict(_))
        ));
        assert_eq!(tokens(a.id), ["tok4"], "a decided task leaves the inbox");
        assert_eq!(get(&c, a.id, "tok1").unwrap().unwrap().decided_ms, 5);
        assert!(get(&c, b.id, "tok1").unwrap().is_none());
        record(&c, &decided(a.id, "tok4", 7)).unwrap();
        let all = list(&c, a.id, None, 10).unwrap();
        assert_eq!(
            all.iter().map(|d| d.token.as_str()).collect::<Vec<_>>(),
            ["tok4", "tok1"]
        );
        assert!(list(&c, a.id, Some("other"), 10).unwrap().is_empty());
        assert!(list(&c, b.id, None, 10).unwrap().is_empty());
        assert!(withdraw(&c, a.id, "tok4").unwrap());
        assert_eq!(tokens(a.id), ["tok4"]);
    }
}
