//! Connections: the credentials a tenant's HTTP tasks send (EventBridge's model: basic or API
//! key authorization plus extra headers, query and body parameters). What may be shown is kept
//! as JSON (`public`); the secrets are kept only sealed by the server (`sealed`), never in
//! plain text.

use rusqlite::{Connection as Db, OptionalExtension, Row, params};

use crate::{Result, unique};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub tenant_id: i64,
    pub name: String,
    pub arn: String,
    pub description: String,
    /// `BASIC` or `API_KEY`.
    pub auth_type: String,
    /// The parameters without secret values, as DescribeConnection shows them (JSON text).
    pub public: String,
    pub sealed: Vec<u8>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

const COLUMNS: &str =
    "tenant_id, name, arn, description, auth_type, public, sealed, created_ms, updated_ms";

fn row(r: &Row<'_>) -> rusqlite::Result<Connection> {
    Ok(Connection {
        tenant_id: r.get(0)?,
        name: r.get(1)?,
        arn: r.get(2)?,
        description: r.get(3)?,
        auth_type: r.get(4)?,
        public: r.get(5)?,
        sealed: r.get(6)?,
        created_ms: r.get(7)?,
        updated_ms: r.get(8)?,
    })
}

/// `Conflict` when the tenant has a connection of that name.
pub fn create(c: &Db, conn: &Connection) -> Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO connections ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))?
    .execute(params![
        conn.tenant_id,
        conn.name,
        conn.arn,
        conn.description,
        conn.auth_type,
        conn.public,
        conn.sealed,
        conn.created_ms,
        conn.updated_ms
    ])
    .map_err(|e| unique(e, || format!("connection {}", conn.name)))?;
    Ok(())
}

pub fn get(c: &Db, tenant_id: i64, name: &str) -> Result<Option<Connection>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM connections WHERE tenant_id = ?1 AND name = ?2"
    ))?
    .query_row(params![tenant_id, name], row)
    .optional()?)
}

pub fn by_arn(c: &Db, tenant_id: i64, arn: &str) -> Result<Option<Connection>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM connections WHERE tenant_id = ?1 AND arn = ?2"
    ))?
    .query_row(params![tenant_id, arn], row)
    .optional()?)
}

/// The tenant's connections whose name starts with `prefix`, in name order after `after`.
pub fn list(
    c: &Db,
    tenant_id: i64,
    prefix: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<Connection>> {
    let rows = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM connections
             WHERE tenant_id = ?1 AND name > ?2 AND substr(name, 1, length(?3)) = ?3
             ORDER BY name LIMIT ?4"
        ))?
        .query_map(params![tenant_id, after, prefix, limit as i64], row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn delete(c: &Db, tenant_id: i64, name: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM connections WHERE tenant_id = ?1 AND name = ?2")?
            .execute(params![tenant_id, name])?
            > 0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_conn;

    fn conn(tenant_id: i64, name: &str) -> Connection {
        Connection {
            tenant_id,
            name: name.into(),
            arn: format!("arn:aws:events:us-east-1:{tenant_id:012}:connection/{name}/1"),
            description: String::new(),
            auth_type: "API_KEY".into(),
            public: "{}".into(),
            sealed: vec![1, 2, 3],
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn connections_are_per_tenant_and_listed_by_prefix() {
        let c = test_conn();
        for t in [1, 2] {
            crate::tenants::create(&c, &format!("t{t}"), &format!("{t:012}"), 0).unwrap();
        }
        for name in ["pay-a", "pay-b", "crm"] {
            create(&c, &conn(1, name)).unwrap();
        }
        create(&c, &conn(2, "pay-a")).unwrap();
        assert!(matches!(
            create(&c, &conn(1, "crm")),
            Err(crate::Error::Conflict(_))
        ));
        let names = |prefix, after| -> Vec<String> {
            list(&c, 1, prefix, after, 10)
                .unwrap()
                .into_iter()
                .map(|c| c.name)
                .collect()
        };
        assert_eq!(names("pay", ""), ["pay-a", "pay-b"]);
        assert_eq!(names("", "crm"), ["pay-a", "pay-b"]);
        let one = conn(1, "crm");
        assert_eq!(by_arn(&c, 1, &one.arn).unwrap(), Some(one.clone()));
        assert_eq!(by_arn(&c, 2, &one.arn).unwrap(), None, "another tenant's");
        assert!(delete(&c, 1, "crm").unwrap());
        assert_eq!(get(&c, 1, "crm").unwrap(), None);
        assert!(get(&c, 2, "pay-a").unwrap().is_some());
    }
}
