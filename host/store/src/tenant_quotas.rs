//! Per-tenant quota overrides (a hosted tenant's plan): each limit left `None` takes the
//! server's default.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use crate::Result;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Overrides {
    pub open_executions: Option<u64>,
    pub starts_per_second: Option<f64>,
    pub start_burst: Option<f64>,
    pub task_concurrency: Option<u64>,
    pub fuel_per_second: Option<f64>,
    pub fuel_burst: Option<f64>,
}

const COLUMNS: &str = "open_executions, starts_per_second, start_burst, task_concurrency, \
                       fuel_per_second, fuel_burst";

fn overrides(r: &Row<'_>, at: usize) -> rusqlite::Result<Overrides> {
    let count = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(at + i)?.map(|n| n.max(0) as u64))
    };
    Ok(Overrides {
        open_executions: count(0)?,
        starts_per_second: r.get(at + 1)?,
        start_burst: r.get(at + 2)?,
        task_concurrency: count(3)?,
        fuel_per_second: r.get(at + 4)?,
        fuel_burst: r.get(at + 5)?,
    })
}

pub fn get(c: &Connection, tenant_id: i64) -> Result<Overrides> {
    let sql = format!("SELECT {COLUMNS} FROM tenant_quotas WHERE tenant_id = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([tenant_id], |r| overrides(r, 0))
        .optional()?
        .unwrap_or_default())
}

/// Replaces the tenant's overrides; all `None` removes the row.
pub fn set(c: &Connection, tenant_id: i64, o: &Overrides) -> Result<()> {
    if *o == Overrides::default() {
        c.prepare_cached("DELETE FROM tenant_quotas WHERE tenant_id = ?1")?
            .execute([tenant_id])?;
        return Ok(());
    }
    let count = |n: Option<u64>| n.map(|n| n.min(i64::MAX as u64) as i64);
    c.prepare_cached(&format!(
        "INSERT OR REPLACE INTO tenant_quotas (tenant_id, {COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        tenant_id,
        count(o.open_executions),
        o.starts_per_second,
        o.start_burst,
        count(o.task_concurrency),
        o.fuel_per_second,
        o.fuel_burst
    ])?;
    Ok(())
}

/// Every tenant's overrides (what the engine keeps in memory).
pub fn all(c: &Connection) -> Result<Vec<(i64, Overrides)>> {
    let sql = format!("SELECT tenant_id, {COLUMNS} FROM tenant_quotas");
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, overrides(r, 1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{tenants, test_conn};

    #[test]
    fn overrides_are_per_tenant_and_clearing_them_restores_the_defaults() {
        let c = test_conn();
        let a = tenants::create(&c, "a", "111111111111", 0).unwrap().id;
        let b = tenants::create(&c, "b", "222222222222", 0).unwrap().id;
        assert_eq!(get(&c, a).unwrap(), Overrides::default());
        let plan = Overrides {
            open_executions: Some(10),
            fuel_per_second: Some(1e9),
            ..Overrides::default()
        };
        set(&c, a, &plan).unwrap();
        assert_eq!(get(&c, a).unwrap(), plan);
        assert_eq!(get(&c, b).unwrap(), Overrides::default());
        assert_eq!(all(&c).unwrap(), [(a, plan)]);
        set(&c, a, &Overrides::default()).unwrap();
        assert!(all(&c).unwrap().is_empty());
        // Deleting the tenant takes its overrides along.
        set(
            &c,
            b,
            &Overrides {
                task_concurrency: Some(2),
                ..Overrides::default()
            },
        )
        .unwrap();
        tenants::delete(&c, "b").unwrap();
        assert!(all(&c).unwrap().is_empty());
    }
}
