//! Per-tenant usage by UTC day: state transitions, task invocations, fuel and task wall time.
//! The basis for quotas and for billing a hosted tenant.

use rusqlite::{Connection, params};

use crate::Result;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub transitions: i64,
    pub task_invocations: i64,
    pub fuel: i64,
    pub task_wall_ms: i64,
}

/// The UTC day holding `ms`.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// Adds `u` (its `day` says where) to the tenant's totals.
pub fn add(c: &Connection, tenant_id: i64, u: &Usage) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO usage (tenant_id, day, transitions, task_invocations, fuel, task_wall_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant_id, day) DO UPDATE SET
             transitions = transitions + excluded.transitions,
             task_invocations = task_invocations + excluded.task_invocations,
             fuel = fuel + excluded.fuel,
             task_wall_ms = task_wall_ms + excluded.task_wall_ms",
    )?
    .execute(params![
        tenant_id,
        u.day,
        u.transitions,
        u.task_invocations,
        u.fuel,
        u.task_wall_ms
    ])?;
    Ok(())
}

/// The tenant's usage per day from `since_day` on, oldest first.
pub fn since(c: &Connection, tenant_id: i64, since_day: i64) -> Result<Vec<Usage>> {
    let mut st = c.prepare_cached(
        "SELECT day, transitions, task_invocations, fuel, task_wall_ms FROM usage
         WHERE tenant_id = ?1 AND day >= ?2 ORDER BY day",
    )?;
    let rows = st
        .query_map(params![tenant_id, since_day], |r| {
            Ok(Usage {
                day: r.get(0)?,
                transitions: r.get(1)?,
                task_invocations: r.get(2)?,
                fuel: r.get(3)?,
                task_wall_ms: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{tenants, test_conn};

    #[test]
    fn adds_up_per_day_and_tenant() {
        let c = test_conn();
        let a = tenants::create(&c, "a", "000000000001", 0).unwrap();
        let b = tenants::create(&c, "b", "000000000002", 0).unwrap();
        let today = day_of(1_800_000_000_000);
        add(
            &c,
            a.id,
            &Usage {
                day: today,
                transitions: 3,
                task_invocations: 1,
                ..Default::default()
            },
        )
        .unwrap();
        add(
            &c,
            a.id,
            &Usage {
                day: today,
                transitions: 2,
                fuel: 500,
                ..Default::default()
            },
        )
        .unwrap();
        add(
            &c,
            a.id,
            &Usage {
                day: today - 1,
                transitions: 7,
                ..Default::default()
            },
        )
        .unwrap();
        add(
            &c,
            b.id,
            &Usage {
                day: today,
                transitions: 100,
                ..Default::default()
            },
        )
        .unwrap();
        let got = since(&c, a.id, today).unwrap();
        assert_eq!(
            got,
            [Usage {
                day: today,
                transitions: 5,
                task_invocations: 1,
                fuel: 500,
                task_wall_ms: 0
            }]
        );
        assert_eq!(since(&c, a.id, 0).unwrap().len(), 2);
        assert_eq!(day_of(-1), -1);
    }
}
