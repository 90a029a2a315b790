//! Tags on a tenant's resources (state machines, activities), keyed by resource ARN.

use rusqlite::{Connection, params};

use crate::Result;

/// The resource's tags in key order.
pub fn list(c: &Connection, tenant_id: i64, resource_arn: &str) -> Result<Vec<(String, String)>> {
    let mut st = c.prepare(
        "SELECT key, value FROM tags WHERE tenant_id = ?1 AND resource_arn = ?2 ORDER BY key",
    )?;
    let rows = st
        .query_map(params![tenant_id, resource_arn], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Adds or overwrites tags; returns how many tags the resource has afterwards.
pub fn put(
    c: &Connection,
    tenant_id: i64,
    resource_arn: &str,
    tags: &[(String, String)],
) -> Result<usize> {
    let mut st = c.prepare(
        "INSERT INTO tags (tenant_id, resource_arn, key, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant_id, resource_arn, key) DO UPDATE SET value = excluded.value",
    )?;
    for (k, v) in tags {
        st.execute(params![tenant_id, resource_arn, k, v])?;
    }
    count(c, tenant_id, resource_arn)
}

pub fn count(c: &Connection, tenant_id: i64, resource_arn: &str) -> Result<usize> {
    let n: i64 = c.query_row(
        "SELECT COUNT(*) FROM tags WHERE tenant_id = ?1 AND resource_arn = ?2",
        params![tenant_id, resource_arn],
        |r| r.get(0),
    )?;
    Ok(n as usize)
}

/// Removes the given keys (absent ones are ignored, as AWS does).
pub fn remove(c: &Connection, tenant_id: i64, resource_arn: &str, keys: &[String]) -> Result<()> {
    let mut st =
        c.prepare("DELETE FROM tags WHERE tenant_id = ?1 AND resource_arn = ?2 AND key = ?3")?;
    for k in keys {
        st.execute(params![tenant_id, resource_arn, k])?;
    }
    Ok(())
}

/// Drops every tag of a deleted resource.
pub fn delete_all(c: &Connection, tenant_id: i64, resource_arn: &str) -> Result<()> {
    c.execute(
        "DELETE FROM tags WHERE tenant_id = ?1 AND resource_arn = ?2",
        params![tenant_id, resource_arn],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{tenants, test_conn};

    fn tag(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    #[test]
    fn put_overwrites_remove_and_isolation() {
        let c = test_conn();
        let a = tenants::create(&c, "a", "000000000001", 0).unwrap();
        let b = tenants::create(&c, "b", "000000000002", 0).unwrap();
        assert_eq!(
            put(&c, a.id, "arn:x", &[tag("k", "1"), tag("j", "2")]).unwrap(),
            2
        );
        assert_eq!(put(&c, a.id, "arn:x", &[tag("k", "3")]).unwrap(), 2);
        assert_eq!(
            list(&c, a.id, "arn:x").unwrap(),
            [tag("j", "2"), tag("k", "3")]
        );
        assert!(list(&c, b.id, "arn:x").unwrap().is_empty(), "tenant-scoped");
        remove(&c, a.id, "arn:x", &["j".into(), "nope".into()]).unwrap();
        assert_eq!(list(&c, a.id, "arn:x").unwrap(), [tag("k", "3")]);
        delete_all(&c, a.id, "arn:x").unwrap();
        assert_eq!(count(&c, a.id, "arn:x").unwrap(), 0);
    }
}
