//! Durable timers (Wait, retry backoff, task timeouts, heartbeats, execution timeouts): a row per
//! armed timer, so a restart re-arms them.

use rusqlite::{Connection, params};

use crate::Result;

/// An armed timer: which execution, the interpreter's timer id, when it fires (ms since epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    pub execution_id: i64,
    pub timer_id: i64,
    pub fire_ms: i64,
}

pub fn insert(c: &Connection, t: Timer) -> Result<()> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO timers (execution_id, timer_id, fire_ms) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![t.execution_id, t.timer_id, t.fire_ms])?;
    Ok(())
}

/// False when the timer was not armed (already fired or cancelled).
pub fn delete(c: &Connection, execution_id: i64, timer_id: i64) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM timers WHERE execution_id = ?1 AND timer_id = ?2")?
            .execute(params![execution_id, timer_id])?
            > 0,
    )
}

pub fn delete_all(c: &Connection, execution_id: i64) -> Result<usize> {
    Ok(
        c.prepare_cached("DELETE FROM timers WHERE execution_id = ?1")?
            .execute([execution_id])?,
    )
}

/// Timers due at `now_ms`, earliest first.
pub fn due(c: &Connection, now_ms: i64, limit: usize) -> Result<Vec<Timer>> {
    let mut st = c.prepare(
        "SELECT execution_id, timer_id, fire_ms FROM timers WHERE fire_ms <= ?1 ORDER BY fire_ms, execution_id, timer_id LIMIT ?2",
    )?;
    let rows = st
        .query_map(params![now_ms, limit as i64], |r| {
            Ok(Timer {
                execution_id: r.get(0)?,
                timer_id: r.get(1)?,
                fire_ms: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// When the next timer fires, if any.
pub fn next_fire(c: &Connection) -> Result<Option<i64>> {
    Ok(c.prepare_cached("SELECT MIN(fire_ms) FROM timers")?
        .query_row([], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executions::{NewExecution, insert as insert_execution};
    use crate::{tenants, test_conn};

    #[test]
    fn due_in_order_and_cancellable() {
        let c = test_conn();
        let t = tenants::create(&c, "t", "000000000001", 0).unwrap();
        let e = NewExecution {
            tenant_id: t.id,
            arn: "e",
            state_machine_arn: "sm",
            name: "e",
            machine_type: "STANDARD",
            definition: "{}",
            input: "{}",
            start_ms: 0,
        };
        let id = insert_execution(&c, &e).unwrap();
        for (timer_id, fire_ms) in [(1, 300), (2, 100), (3, 200)] {
            insert(
                &c,
                Timer {
                    execution_id: id,
                    timer_id,
                    fire_ms,
                },
            )
            .unwrap();
        }
        assert_eq!(next_fire(&c).unwrap(), Some(100));
        let ids: Vec<i64> = due(&c, 250, 10)
            .unwrap()
            .iter()
            .map(|t| t.timer_id)
            .collect();
        assert_eq!(ids, [2, 3]);
        assert!(delete(&c, id, 2).unwrap());
        assert!(!delete(&c, id, 2).unwrap());
        assert_eq!(delete_all(&c, id).unwrap(), 2);
        assert_eq!(next_fire(&c).unwrap(), None);
    }
}
