//! A tenant's WASM functions: code, ABI, limits, capability grants and Lambda configuration.
//! The code is kept here so a compiled artifact can always be rebuilt from it.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{Result, unique};

/// A function without its code (see [`code`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub tenant_id: i64,
    pub name: String,
    pub arn: String,
    /// The runtime's ABI name (`task`, `command-component`, `command-module`).
    pub abi: String,
    pub sha256: String,
    pub code_size: i64,
    pub memory_mib: i64,
    pub timeout_s: i64,
    /// Capability grants, JSON text.
    pub grants: String,
    /// Lambda configuration (description, role, handler, runtime, fuel), JSON text.
    pub config: String,
    pub revision_id: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

const COLUMNS: &str = "tenant_id, name, arn, abi, sha256, length(code), memory_mib, timeout_s, \
                       grants, config, revision_id, created_ms, updated_ms";

fn function(r: &Row<'_>) -> rusqlite::Result<Function> {
    Ok(Function {
        tenant_id: r.get(0)?,
        name: r.get(1)?,
        arn: r.get(2)?,
        abi: r.get(3)?,
        sha256: r.get(4)?,
        code_size: r.get(5)?,
        memory_mib: r.get(6)?,
        timeout_s: r.get(7)?,
        grants: r.get(8)?,
        config: r.get(9)?,
        revision_id: r.get(10)?,
        created_ms: r.get(11)?,
        updated_ms: r.get(12)?,
    })
}

/// Stores a new function with its code; `Conflict` when the name is taken.
pub fn insert(c: &Connection, f: &Function, code: &[u8]) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO functions (tenant_id, name, arn, abi, sha256, code, memory_mib, timeout_s,
                                grants, config, revision_id, created_ms, updated_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        f.tenant_id,
        f.name,
        f.arn,
        f.abi,
        f.sha256,
        code,
        f.memory_mib,
        f.timeout_s,
        f.grants,
        f.config,
        f.revision_id,
        f.created_ms,
        f.updated_ms
    ])
    .map_err(|e| unique(e, || format!("function {}", f.arn)))?;
    Ok(())
}

pub fn get(c: &Connection, tenant_id: i64, name: &str) -> Result<Option<Function>> {
    let sql = format!("SELECT {COLUMNS} FROM functions WHERE tenant_id = ?1 AND name = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row(params![tenant_id, name], function)
        .optional()?)
}

/// The function's code.
pub fn code(c: &Connection, tenant_id: i64, name: &str) -> Result<Option<Vec<u8>>> {
    Ok(
        c.prepare_cached("SELECT code FROM functions WHERE tenant_id = ?1 AND name = ?2")?
            .query_row(params![tenant_id, name], |r| r.get(0))
            .optional()?,
    )
}

/// A page of the tenant's functions in name order, after `after` (a name).
pub fn list(
    c: &Connection,
    tenant_id: i64,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Function>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM functions WHERE tenant_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map(
            params![tenant_id, after.unwrap_or(""), limit as i64],
            function,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Replaces the code (and its ABI and hash); false when there is no such function.
pub fn update_code(c: &Connection, f: &Function, code: &[u8]) -> Result<bool> {
    let n = c
        .prepare_cached(
            "UPDATE functions SET abi = ?3, sha256 = ?4, code = ?5, revision_id = ?6, updated_ms = ?7
             WHERE tenant_id = ?1 AND name = ?2",
        )?
        .execute(params![
            f.tenant_id,
            f.name,
            f.abi,
            f.sha256,
            code,
            f.revision_id,
            f.updated_ms
        ])?;
    Ok(n > 0)
}

/// Replaces limits, grants and configuration; false when there is no such function.
pub fn update_settings(c: &Connection, f: &Function) -> Result<bool> {
    let n = c
        .prepare_cached(
            "UPDATE functions SET memory_mib = ?3, timeout_s = ?4, grants = ?5, config = ?6,
                                  revision_id = ?7, updated_ms = ?8
             WHERE tenant_id = ?1 AND name = ?2",
        )?
        .execute(params![
            f.tenant_id,
            f.name,
            f.memory_mib,
            f.timeout_s,
            f.grants,
            f.config,
            f.revision_id,
            f.updated_ms
        ])?;
    Ok(n > 0)
}

pub fn delete(c: &Connection, tenant_id: i64, name: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM functions WHERE tenant_id = ?1 AND name = ?2")?
            .execute(params![tenant_id, name])?
            > 0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, tenants, test_conn};

    fn sample(tenant_id: i64, name: &str) -> Function {
        Function {
            tenant_id,
            name: name.into(),
            arn: format!("arn:aws:lambda:us-east-1:{tenant_id:012}:function:{name}"),
            abi: "task".into(),
            sha256: "ab".repeat(32),
            code_size: 4,
            memory_mib: 128,
            timeout_s: 3,
            grants: "{}".into(),
            config: "{}".into(),
            revision_id: "r1".into(),
            created_ms: 1,
            updated_ms: 1,
        }
    }

    #[test]
    fn functions_are_per_tenant_and_keep_their_code() {
        let c = test_conn();
        let a = tenants::create(&c, "a", "111111111111", 0).unwrap().id;
        let b = tenants::create(&c, "b", "222222222222", 0).unwrap().id;
        insert(&c, &sample(a, "f"), b"\0asm").unwrap();
        assert!(matches!(
            insert(&c, &sample(a, "f"), b"\0asm"),
            Err(Error::Conflict(_))
        ));
        insert(&c, &sample(b, "f"), b"\0asm\x01").unwrap();
        assert_eq!(get(&c, a, "f").unwrap().unwrap().code_size, 4);
        assert_eq!(code(&c, b, "f").unwrap().unwrap(), b"\0asm\x01");
        assert!(get(&c, a, "g").unwrap().is_none());

        let mut f = sample(a, "f");
        f.sha256 = "cd".repeat(32);
        f.revision_id = "r2".into();
        assert!(update_code(&c, &f, b"\0asm\x02\x03").unwrap());
        let got = get(&c, a, "f").unwrap().unwrap();
        assert_eq!((got.code_size, got.revision_id.as_str()), (6, "r2"));
        f.memory_mib = 256;
        f.grants = r#"{"log":true}"#.into();
        assert!(update_settings(&c, &f).unwrap());
        let got = get(&c, a, "f").unwrap().unwrap();
        assert_eq!(
            (got.memory_mib, got.grants.as_str()),
            (256, r#"{"log":true}"#)
        );
        assert_eq!(get(&c, b, "f").unwrap().unwrap().memory_mib, 128);

        insert(&c, &sample(a, "e"), b"x").unwrap();
        let names: Vec<String> = list(&c, a, None, 10)
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(names, ["e", "f"]);
        assert_eq!(list(&c, a, Some("e"), 10).unwrap().len(), 1);
        assert!(delete(&c, a, "f").unwrap());
        assert!(!delete(&c, a, "f").unwrap());
        assert!(get(&c, b, "f").unwrap().is_some());
    }
}
