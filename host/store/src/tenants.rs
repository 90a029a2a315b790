//! Tenants and their access keys. A secret is stored as the caller seals it (encrypted by the
//! server); this module never sees plaintext rules.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{Result, unique};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    pub account_id: String,
    pub created_ms: i64,
}

fn tenant(r: &Row<'_>) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        id: r.get(0)?,
        name: r.get(1)?,
        account_id: r.get(2)?,
        created_ms: r.get(3)?,
    })
}

const COLUMNS: &str = "id, name, account_id, created_ms";

pub fn create(c: &Connection, name: &str, account_id: &str, now_ms: i64) -> Result<Tenant> {
    c.prepare_cached("INSERT INTO tenants (name, account_id, created_ms) VALUES (?1, ?2, ?3)")?
        .execute(params![name, account_id, now_ms])
        .map_err(|e| unique(e, || format!("tenant {name} or account {account_id}")))?;
    Ok(Tenant {
        id: c.last_insert_rowid(),
        name: name.into(),
        account_id: account_id.into(),
        created_ms: now_ms,
    })
}

pub fn by_name(c: &Connection, name: &str) -> Result<Option<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE name = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([name], tenant)
        .optional()?)
}

pub fn by_id(c: &Connection, id: i64) -> Result<Option<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = ?1");
    Ok(c.prepare_cached(&sql)?.query_row([id], tenant).optional()?)
}

pub fn by_account(c: &Connection, account_id: &str) -> Result<Option<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants WHERE account_id = ?1");
    Ok(c.prepare_cached(&sql)?
        .query_row([account_id], tenant)
        .optional()?)
}

pub fn list(c: &Connection) -> Result<Vec<Tenant>> {
    let sql = format!("SELECT {COLUMNS} FROM tenants ORDER BY name");
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map([], tenant)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Deletes the tenant and everything it owns. False when there was no such tenant.
pub fn delete(c: &Connection, name: &str) -> Result<bool> {
    Ok(c.prepare_cached("DELETE FROM tenants WHERE name = ?1")?
        .execute([name])?
        > 0)
}

pub fn add_key(
    c: &Connection,
    tenant_id: i64,
    access_key_id: &str,
    sealed_secret: &[u8],
    now_ms: i64,
) -> Result<()> {
    c.prepare_cached("INSERT INTO access_keys (access_key_id, tenant_id, secret, created_ms) VALUES (?1, ?2, ?3, ?4)")?.execute(
        params![access_key_id, tenant_id, sealed_secret, now_ms],
    )
    .map_err(|e| unique(e, || format!("access key {access_key_id}")))?;
    Ok(())
}

/// Removes every key of the tenant (key rotation adds the new one in the same write).
pub fn delete_keys(c: &Connection, tenant_id: i64) -> Result<usize> {
    Ok(
        c.prepare_cached("DELETE FROM access_keys WHERE tenant_id = ?1")?
            .execute([tenant_id])?,
    )
}

/// Replaces the sealed secret of an existing key; false when there is no such key.
pub fn set_secret(c: &Connection, access_key_id: &str, sealed_secret: &[u8]) -> Result<bool> {
    Ok(c.execute(
        "UPDATE access_keys SET secret = ?2 WHERE access_key_id = ?1",
        params![access_key_id, sealed_secret],
    )? > 0)
}

/// The tenant's access key ids, oldest first.
pub fn key_ids(c: &Connection, tenant_id: i64) -> Result<Vec<String>> {
    let mut st = c.prepare(
        "SELECT access_key_id FROM access_keys WHERE tenant_id = ?1 ORDER BY created_ms, access_key_id",
    )?;
    let rows = st
        .query_map([tenant_id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The tenant owning `access_key_id` and the key's sealed secret.
pub fn by_key(c: &Connection, access_key_id: &str) -> Result<Option<(Tenant, Vec<u8>)>> {
    let row = c
        .prepare_cached(
            "SELECT t.id, t.name, t.account_id, t.created_ms, k.secret
             FROM access_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.access_key_id = ?1",
        )?
        .query_row([access_key_id], |r| {
            Ok((tenant(r)?, r.get::<_, Vec<u8>>(4)?))
        })
        .optional()?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, test_conn};

    #[test]
    fn tenants_and_keys() {
        let c = test_conn();
        let t = create(&c, "acme", "123456789012", 1).unwrap();
        assert!(matches!(
            create(&c, "acme", "999999999999", 2),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            create(&c, "other", "123456789012", 2),
            Err(Error::Conflict(_))
        ));
        add_key(&c, t.id, "AKIA1", b"sealed", 3).unwrap();
        assert!(matches!(
            add_key(&c, t.id, "AKIA1", b"x", 3),
            Err(Error::Conflict(_))
        ));
        let (owner, secret) = by_key(&c, "AKIA1").unwrap().unwrap();
        assert_eq!(owner, t);
        assert_eq!(secret, b"sealed");
        assert_eq!(
            by_account(&c, "123456789012").unwrap().unwrap().name,
            "acme"
        );
        assert_eq!(list(&c).unwrap().len(), 1);
        assert_eq!(key_ids(&c, t.id).unwrap(), ["AKIA1"]);
        assert!(set_secret(&c, "AKIA1", b"resealed").unwrap());
        assert_eq!(by_key(&c, "AKIA1").unwrap().unwrap().1, b"resealed");
        assert!(!set_secret(&c, "nope", b"x").unwrap());
        assert_eq!(delete_keys(&c, t.id).unwrap(), 1);
        assert!(by_key(&c, "AKIA1").unwrap().is_none());
        add_key(&c, t.id, "AKIA2", b"s2", 4).unwrap();
        assert!(delete(&c, "acme").unwrap());
        assert!(
            by_key(&c, "AKIA2").unwrap().is_none(),
            "keys go with their tenant"
        );
        assert!(!delete(&c, "acme").unwrap());
    }
}
