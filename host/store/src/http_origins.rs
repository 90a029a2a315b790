//! The origins (`scheme://host[:port]`) a tenant's HTTP tasks may call. Nothing is allowed
//! until the operator allows it.

use rusqlite::{Connection, params};

use crate::Result;

pub fn allow(c: &Connection, tenant_id: i64, origin: &str) -> Result<()> {
    c.prepare_cached("INSERT OR IGNORE INTO http_origins (tenant_id, origin) VALUES (?1, ?2)")?
        .execute(params![tenant_id, origin])?;
    Ok(())
}

/// True if the origin was allowed.
pub fn revoke(c: &Connection, tenant_id: i64, origin: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM http_origins WHERE tenant_id = ?1 AND origin = ?2")?
            .execute(params![tenant_id, origin])?
            > 0,
    )
}

pub fn list(c: &Connection, tenant_id: i64) -> Result<Vec<String>> {
    let rows = c
        .prepare_cached("SELECT origin FROM http_origins WHERE tenant_id = ?1 ORDER BY origin")?
        .query_map([tenant_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn allowed(c: &Connection, tenant_id: i64, origin: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT 1 FROM http_origins WHERE tenant_id = ?1 AND origin = ?2")?
            .query_row(params![tenant_id, origin], |_| Ok(()))
            .map(|()| true)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(false),
                e => Err(e),
            })?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_conn;

    #[test]
    fn origins_are_allowed_per_tenant() {
        let c = test_conn();
        for t in [1, 2] {
            crate::tenants::create(&c, &format!("t{t}"), &format!("{t:012}"), 0).unwrap();
        }
        allow(&c, 1, "https://pay.example").unwrap();
        allow(&c, 1, "https://pay.example").unwrap();
        allow(&c, 1, "http://127.0.0.1:9000").unwrap();
        assert_eq!(
            list(&c, 1).unwrap(),
            ["http://127.0.0.1:9000", "https://pay.example"]
        );
        assert!(allowed(&c, 1, "https://pay.example").unwrap());
        assert!(!allowed(&c, 2, "https://pay.example").unwrap());
        assert!(revoke(&c, 1, "https://pay.example").unwrap());
        assert!(!revoke(&c, 1, "https://pay.example").unwrap());
        assert!(!allowed(&c, 1, "https://pay.example").unwrap());
    }
}
