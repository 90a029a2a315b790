//! State machines of a tenant, and their published versions.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{Result, unique};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMachine {
    pub tenant_id: i64,
    pub name: String,
    pub arn: String,
    /// `STANDARD` or `EXPRESS`.
    pub machine_type: String,
    pub definition: String,
    pub role_arn: String,
    pub revision_id: String,
    /// Logging, tracing and encryption settings as JSON text.
    pub config: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

const COLUMNS: &str =
    "tenant_id, name, arn, type, definition, role_arn, revision_id, config, created_ms, updated_ms";

fn machine(r: &Row<'_>) -> rusqlite::Result<StateMachine> {
    Ok(StateMachine {
        tenant_id: r.get(0)?,
        name: r.get(1)?,
        arn: r.get(2)?,
        machine_type: r.get(3)?,
        definition: r.get(4)?,
        role_arn: r.get(5)?,
        revision_id: r.get(6)?,
        config: r.get(7)?,
        created_ms: r.get(8)?,
        updated_ms: r.get(9)?,
    })
}

pub fn insert(c: &Connection, m: &StateMachine) -> Result<()> {
    c.prepare_cached(&format!(
        "INSERT INTO state_machines ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    ))?
    .execute(params![
        m.tenant_id,
        m.name,
        m.arn,
        m.machine_type,
        m.definition,
        m.role_arn,
        m.revision_id,
        m.config,
        m.created_ms,
        m.updated_ms
    ])
    .map_err(|e| unique(e, || format!("state machine {}", m.arn)))?;
    Ok(())
}

pub fn get(c: &Connection, tenant_id: i64, arn: &str) -> Result<Option<StateMachine>> {
    let sql = format!("SELECT {COLUMNS} FROM state_machines WHERE tenant_id = ?1 AND arn = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row(params![tenant_id, arn], machine)
        .optional()?)
}

/// A page of the tenant's machines in name order, starting after `after` (a name).
pub fn list(
    c: &Connection,
    tenant_id: i64,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<StateMachine>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM state_machines WHERE tenant_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3"
    );
    let mut st = c.prepare(&sql)?;
    let rows = st
        .query_map(
            params![tenant_id, after.unwrap_or(""), limit as i64],
            machine,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Replaces definition, role and config; false when there is no such machine.
pub fn update(c: &Connection, m: &StateMachine) -> Result<bool> {
    let n = c.prepare_cached("UPDATE state_machines SET definition = ?3, role_arn = ?4, revision_id = ?5, config = ?6, updated_ms = ?7
         WHERE tenant_id = ?1 AND arn = ?2")?.execute(
        params![m.tenant_id, m.arn, m.definition, m.role_arn, m.revision_id, m.config, m.updated_ms],
    )?;
    Ok(n > 0)
}

pub fn delete(c: &Connection, tenant_id: i64, arn: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM state_machines WHERE tenant_id = ?1 AND arn = ?2")?
            .execute(params![tenant_id, arn])?
            > 0,
    )
}

/// Publishes the machine's current definition as the next version number; returns it.
pub fn publish_version(
    c: &Connection,
    tenant_id: i64,
    arn: &str,
    description: Option<&str>,
    now_ms: i64,
) -> Result<Option<i64>> {
    let Some(m) = get(c, tenant_id, arn)? else {
        return Ok(None);
    };
    let next: i64 = c.prepare_cached("SELECT COALESCE(MAX(version), 0) + 1 FROM state_machine_versions WHERE tenant_id = ?1 AND name = ?2")?.query_row(
        params![tenant_id, m.name],
        |r| r.get(0),
    )?;
    c.prepare_cached("INSERT INTO state_machine_versions (tenant_id, name, version, definition, role_arn, revision_id, description, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?.execute(
        params![tenant_id, m.name, next, m.definition, m.role_arn, m.revision_id, description, now_ms],
    )?;
    Ok(Some(next))
}

/// A published version: the machine's definition and role when it was published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub name: String,
    pub version: i64,
    pub definition: String,
    pub role_arn: String,
    pub revision_id: String,
    pub description: Option<String>,
    pub created_ms: i64,
}

const VERSION_COLUMNS: &str =
    "name, version, definition, role_arn, revision_id, description, created_ms";

fn version(r: &Row<'_>) -> rusqlite::Result<Version> {
    Ok(Version {
        name: r.get(0)?,
        version: r.get(1)?,
        definition: r.get(2)?,
        role_arn: r.get(3)?,
        revision_id: r.get(4)?,
        description: r.get(5)?,
        created_ms: r.get(6)?,
    })
}

pub fn get_version(
    c: &Connection,
    tenant_id: i64,
    name: &str,
    number: i64,
) -> Result<Option<Version>> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM state_machine_versions
         WHERE tenant_id = ?1 AND name = ?2 AND version = ?3"
    );
    Ok(c.prepare_cached(&sql)?
        .query_row(params![tenant_id, name, number], version)
        .optional()?)
}

/// The machine's versions below `before` (all when `None`), newest first.
pub fn list_versions(
    c: &Connection,
    tenant_id: i64,
    name: &str,
    before: Option<i64>,
    limit: usize,
) -> Result<Vec<Version>> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM state_machine_versions
         WHERE tenant_id = ?1 AND name = ?2 AND version < ?3 ORDER BY version DESC LIMIT ?4"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map(
            params![tenant_id, name, before.unwrap_or(i64::MAX), limit as i64],
            version,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn delete_version(c: &Connection, tenant_id: i64, name: &str, number: i64) -> Result<bool> {
    Ok(c.prepare_cached(
        "DELETE FROM state_machine_versions WHERE tenant_id = ?1 AND name = ?2 AND version = ?3",
    )?
    .execute(params![tenant_id, name, number])?
        > 0)
}

/// An alias: `routing` is `[(version, weight)]` (one or two, weights summing to 100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub machine: String,
    pub name: String,
    pub description: Option<String>,
    pub routing: Vec<(i64, u32)>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

const ALIAS_COLUMNS: &str = "machine, name, description, routing, created_ms, updated_ms";

fn alias(r: &Row<'_>) -> rusqlite::Result<Alias> {
    let routing: String = r.get(3)?;
    Ok(Alias {
        machine: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        routing: serde_json::from_str(&routing).unwrap_or_default(),
        created_ms: r.get(4)?,
        updated_ms: r.get(5)?,
    })
}

/// Creates or replaces the alias.
pub fn put_alias(c: &Connection, tenant_id: i64, a: &Alias) -> Result<()> {
    let routing = serde_json::to_string(&a.routing).expect("pairs of numbers serialize");
    c.prepare_cached(&format!(
        "INSERT OR REPLACE INTO state_machine_aliases (tenant_id, {ALIAS_COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        tenant_id,
        a.machine,
        a.name,
        a.description,
        routing,
        a.created_ms,
        a.updated_ms
    ])?;
    Ok(())
}

pub fn get_alias(
    c: &Connection,
    tenant_id: i64,
    machine: &str,
    name: &str,
) -> Result<Option<Alias>> {
    let sql = format!(
        "SELECT {ALIAS_COLUMNS} FROM state_machine_aliases
         WHERE tenant_id = ?1 AND machine = ?2 AND name = ?3"
    );
    Ok(c.prepare_cached(&sql)?
        .query_row(params![tenant_id, machine, name], alias)
        .optional()?)
}

/// The machine's aliases after `after` (by name), in name order.
pub fn list_aliases(
    c: &Connection,
    tenant_id: i64,
    machine: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Alias>> {
    let sql = format!(
        "SELECT {ALIAS_COLUMNS} FROM state_machine_aliases
         WHERE tenant_id = ?1 AND machine = ?2 AND name > ?3 ORDER BY name LIMIT ?4"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map(
            params![tenant_id, machine, after.unwrap_or(""), limit as i64],
            alias,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn delete_alias(c: &Connection, tenant_id: i64, machine: &str, name: &str) -> Result<bool> {
    Ok(c.prepare_cached(
        "DELETE FROM state_machine_aliases WHERE tenant_id = ?1 AND machine = ?2 AND name = ?3",
    )?
    .execute(params![tenant_id, machine, name])?
        > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, tenants, test_conn};

    pub(crate) fn sample(tenant_id: i64, name: &str) -> StateMachine {
        StateMachine {
            tenant_id,
            name: name.into(),
            arn: format!("arn:aws:states:us-east-1:{tenant_id:012}:stateMachine:{name}"),
            machine_type: "STANDARD".into(),
            definition: r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#.into(),
            role_arn: "arn:aws:iam::1:role/r".into(),
            revision_id: "r1".into(),
            config: "{}".into(),
            created_ms: 1,
            updated_ms: 1,
        }
    }

    #[test]
    fn crud_pages_and_tenant_isolation() {
        let c = test_conn();
        let a = tenants::create(&c, "a", "000000000001", 0).unwrap();
        let b = tenants::create(&c, "b", "000000000002", 0).unwrap();
        for n in ["m3", "m1", "m2"] {
            insert(&c, &sample(a.id, n)).unwrap();
        }
        assert!(matches!(
            insert(&c, &sample(a.id, "m1")),
            Err(Error::Conflict(_))
        ));
        let m1 = sample(a.id, "m1");
        assert!(
            get(&c, b.id, &m1.arn).unwrap().is_none(),
            "another tenant sees nothing"
        );
        let page: Vec<String> = list(&c, a.id, None, 2)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(page, ["m1", "m2"]);
        let rest: Vec<String> = list(&c, a.id, Some("m2"), 2)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(rest, ["m3"]);
        let mut changed = m1.clone();
        changed.definition = "{}".into();
        changed.revision_id = "r2".into();
        assert!(update(&c, &changed).unwrap());
        assert_eq!(get(&c, a.id, &m1.arn).unwrap().unwrap().revision_id, "r2");
        assert_eq!(
            publish_version(&c, a.id, &m1.arn, Some("first"), 5).unwrap(),
            Some(1)
        );
        assert_eq!(
            publish_version(&c, a.id, &m1.arn, None, 6).unwrap(),
            Some(2)
        );
        let v1 = get_version(&c, a.id, "m1", 1).unwrap().unwrap();
        assert_eq!(
            (v1.definition.as_str(), v1.description.as_deref()),
            ("{}", Some("first"))
        );
        let numbers = |before| -> Vec<i64> {
            list_versions(&c, a.id, "m1", before, 10)
                .unwrap()
                .iter()
                .map(|v| v.version)
                .collect()
        };
        assert_eq!((numbers(None), numbers(Some(2))), (vec![2, 1], vec![1]));
        assert!(
            get_version(&c, b.id, "m1", 1).unwrap().is_none(),
            "another tenant's"
        );
        assert!(delete_version(&c, a.id, "m1", 2).unwrap());
        assert_eq!(numbers(None), [1]);
        let prod = Alias {
            machine: "m1".into(),
            name: "prod".into(),
            description: None,
            routing: vec![(1, 90), (3, 10)],
            created_ms: 7,
            updated_ms: 7,
        };
        put_alias(&c, a.id, &prod).unwrap();
        assert_eq!(
            get_alias(&c, a.id, "m1", "prod").unwrap().as_ref(),
            Some(&prod)
        );
        assert!(get_alias(&c, b.id, "m1", "prod").unwrap().is_none());
        assert_eq!(list_aliases(&c, a.id, "m1", None, 10).unwrap().len(), 1);
        assert!(
            list_aliases(&c, a.id, "m1", Some("prod"), 10)
                .unwrap()
                .is_empty()
        );
        assert!(delete(&c, a.id, &m1.arn).unwrap());
        assert!(
            get_version(&c, a.id, "m1", 1).unwrap().is_none(),
            "versions go with it"
        );
        assert!(
            get_alias(&c, a.id, "m1", "prod").unwrap().is_none(),
            "and aliases"
        );
        assert!(!delete(&c, b.id, &sample(a.id, "m2").arn).unwrap());
    }
}
