//! Activities of a tenant: named queues of work for external workers.

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Result, unique};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub tenant_id: i64,
    pub name: String,
    pub arn: String,
    pub created_ms: i64,
}

/// Creates the activity, or returns the existing one (CreateActivity is idempotent by name).
pub fn create(c: &Connection, a: &Activity) -> Result<Activity> {
    if let Some(existing) = by_name(c, a.tenant_id, &a.name)? {
        return Ok(existing);
    }
    c.prepare_cached(
        "INSERT INTO activities (tenant_id, name, arn, created_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![a.tenant_id, a.name, a.arn, a.created_ms])
    .map_err(|e| unique(e, || format!("activity {}", a.arn)))?;
    Ok(a.clone())
}

fn by_name(c: &Connection, tenant_id: i64, name: &str) -> Result<Option<Activity>> {
    Ok(c.prepare_cached("SELECT tenant_id, name, arn, created_ms FROM activities WHERE tenant_id = ?1 AND name = ?2")?.query_row(
            params![tenant_id, name],
            |r| Ok(Activity { tenant_id: r.get(0)?, name: r.get(1)?, arn: r.get(2)?, created_ms: r.get(3)? }),
        )
        .optional()?)
}

pub fn get(c: &Connection, tenant_id: i64, arn: &str) -> Result<Option<Activity>> {
    Ok(c.prepare_cached(
        "SELECT tenant_id, name, arn, created_ms FROM activities WHERE tenant_id = ?1 AND arn = ?2",
    )?
    .query_row(params![tenant_id, arn], |r| {
        Ok(Activity {
            tenant_id: r.get(0)?,
            name: r.get(1)?,
            arn: r.get(2)?,
            created_ms: r.get(3)?,
        })
    })
    .optional()?)
}

/// A page in name order after `after`.
pub fn list(
    c: &Connection,
    tenant_id: i64,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Activity>> {
    let mut st = c.prepare(
        "SELECT tenant_id, name, arn, created_ms FROM activities WHERE tenant_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3",
    )?;
    let rows = st
        .query_map(params![tenant_id, after.unwrap_or(""), limit as i64], |r| {
            Ok(Activity {
                tenant_id: r.get(0)?,
                name: r.get(1)?,
                arn: r.get(2)?,
                created_ms: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn delete(c: &Connection, tenant_id: i64, arn: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM activities WHERE tenant_id = ?1 AND arn = ?2")?
            .execute(params![tenant_id, arn])?
            > 0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{tenants, test_conn};

    #[test]
    fn idempotent_create_list_delete() {
        let c = test_conn();
        let t = tenants::create(&c, "t", "000000000001", 0).unwrap();
        let other = tenants::create(&c, "o", "000000000002", 0).unwrap();
        let a = Activity {
            tenant_id: t.id,
            name: "work".into(),
            arn: "arn:work".into(),
            created_ms: 1,
        };
        assert_eq!(create(&c, &a).unwrap(), a);
        let again = Activity {
            created_ms: 99,
            ..a.clone()
        };
        assert_eq!(
            create(&c, &again).unwrap().created_ms,
            1,
            "the existing activity is returned"
        );
        assert_eq!(list(&c, t.id, None, 10).unwrap().len(), 1);
        assert!(get(&c, other.id, "arn:work").unwrap().is_none());
        assert!(delete(&c, t.id, "arn:work").unwrap());
        assert!(get(&c, t.id, "arn:work").unwrap().is_none());
    }
}
