//! Built-in tables with DynamoDB's data model: per-tenant tables with a key schema (partition
//! key, optional sort key, of type S, N or B) and items stored as AWS AttributeValue JSON. Each
//! item's key values are also stored encoded so that byte order is DynamoDB's key order, which
//! makes Query a range scan of the primary-key index. Expressions live in `table_expr`.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::{Result, unique};

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub pk: (String, String),
    pub sk: Option<(String, String)>,
    /// What DescribeTable echoes beside the key schema (AttributeDefinitions, BillingMode...).
    pub definition: Value,
    pub created_ms: i64,
}

const TABLE_COLS: &str =
    "id, tenant_id, name, pk_name, pk_type, sk_name, sk_type, definition, created_ms";

fn row_table(r: &rusqlite::Row) -> rusqlite::Result<Table> {
    let sk_name: Option<String> = r.get(5)?;
    let sk_type: Option<String> = r.get(6)?;
    let def: String = r.get(7)?;
    Ok(Table {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        pk: (r.get(3)?, r.get(4)?),
        sk: sk_name.zip(sk_type),
        definition: serde_json::from_str(&def).unwrap_or(Value::Null),
        created_ms: r.get(8)?,
    })
}

pub fn create(c: &Connection, t: &Table) -> Result<Table> {
    c.prepare_cached(
        "INSERT INTO kv_tables (tenant_id, name, pk_name, pk_type, sk_name, sk_type, definition, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        t.tenant_id,
        t.name,
        t.pk.0,
        t.pk.1,
        t.sk.as_ref().map(|s| &s.0),
        t.sk.as_ref().map(|s| &s.1),
        t.definition.to_string(),
        t.created_ms
    ])
    .map_err(|e| unique(e, || format!("table {}", t.name)))?;
    Ok(Table {
        id: c.last_insert_rowid(),
        ..t.clone()
    })
}

pub fn get(c: &Connection, tenant_id: i64, name: &str) -> Result<Option<Table>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {TABLE_COLS} FROM kv_tables WHERE tenant_id = ?1 AND name = ?2"
    ))?
    .query_row(params![tenant_id, name], row_table)
    .optional()?)
}

/// Table names in order, after `after`.
pub fn list(c: &Connection, tenant_id: i64, after: &str, limit: usize) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT name FROM kv_tables WHERE tenant_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3",
    )?;
    let rows = st
        .query_map(params![tenant_id, after, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn delete(c: &Connection, tenant_id: i64, name: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM kv_tables WHERE tenant_id = ?1 AND name = ?2")?
            .execute(params![tenant_id, name])?
            > 0,
    )
}

/// Item count and total size.
pub fn stats(c: &Connection, table_id: i64) -> Result<(i64, i64)> {
    Ok(c.prepare_cached(
        "SELECT count(*), coalesce(sum(size), 0) FROM kv_items WHERE table_id = ?1",
    )?
    .query_row([table_id], |r| Ok((r.get(0)?, r.get(1)?)))?)
}

/// An item's encoded primary key: partition bytes and sort bytes (empty without a sort key).
pub type Key = (Vec<u8>, Vec<u8>);

/// Why a key is unusable; the message is DynamoDB's ValidationException text.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyError(pub String);

impl Table {
    /// The key attributes of an item (or of a `Key` member), encoded. Missing, mistyped or
    /// extra key attributes are errors, as in DynamoDB.
    pub fn key_of(
        &self,
        item: &serde_json::Map<String, Value>,
        exact: bool,
    ) -> std::result::Result<Key, KeyError> {
        let mismatch = || KeyError("The provided key element does not match the schema".into());
        if exact && item.len() != 1 + usize::from(self.sk.is_some()) {
            return Err(mismatch());
        }
        let part = |(name, ty): &(String, String)| -> std::result::Result<Vec<u8>, KeyError> {
            let v = item.get(name).ok_or_else(mismatch)?;
            let v = v.get(ty).ok_or_else(mismatch)?;
            encode(ty, v).ok_or_else(mismatch)
        };
        let pk = part(&self.pk)?;
        let sk = match &self.sk {
            Some(s) => part(s)?,
            None => Vec::new(),
        };
        if pk.is_empty() && self.pk.1 != "N" {
            return Err(KeyError(format!(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {}",
                self.pk.0
            )));
        }
        if let Some((name, ty)) = &self.sk
            && sk.is_empty()
            && ty != "N"
        {
            return Err(KeyError(format!(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {name}"
            )));
        }
        Ok((pk, sk))
    }

    /// The key attributes of an item, as a `Key` map.
    pub fn key_item(
        &self,
        item: &serde_json::Map<String, Value>,
    ) -> serde_json::Map<String, Value> {
        let mut out = serde_json::Map::new();
        for (name, _) in std::iter::once(&self.pk).chain(self.sk.as_ref()) {
            if let Some(v) = item.get(name) {
                out.insert(name.clone(), v.clone());
            }
        }
        out
    }
}

/// Encodes a key value of type `ty` (`S`, `N`, `B`) so that byte order is DynamoDB's order:
/// strings by UTF-8 bytes, binary by bytes, numbers by value.
pub fn encode(ty: &str, v: &Value) -> Option<Vec<u8>> {
    let s = v.as_str()?;
    match ty {
        "S" => Some(s.as_bytes().to_vec()),
        "B" => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(s).ok()
        }
        "N" => encode_number(s),
        _ => None,
    }
}

/// A decimal as sign, exponent and digits: zero sorts between negatives and positives, a
/// larger exponent is a larger magnitude, and digits compare lexicographically (negatives
/// complemented, with a terminator so that a longer mantissa sorts lower).
pub fn encode_number(s: &str) -> Option<Vec<u8>> {
    let (neg, digits, exp) = parse_decimal(s)?;
    if digits.is_empty() {
        return Some(vec![0x01]);
    }
    let e = (exp + 0x8000) as u16;
    let mut out = Vec::with_capacity(digits.len() + 4);
    if neg {
        out.push(0x00);
        out.extend_from_slice(&(0xFFFF - e).to_be_bytes());
        out.extend(digits.iter().map(|d| b'9' - (d - b'0')));
        out.push(0xFF);
    } else {
        out.push(0x02);
        out.extend_from_slice(&e.to_be_bytes());
        out.extend_from_slice(&digits);
    }
    Some(out)
}

/// Parses a DynamoDB number: (negative, significant digits without leading or trailing
/// zeros, exponent such that value = 0.DIGITS × 10^exp). Zero has no digits.
pub fn parse_decimal(s: &str) -> Option<(bool, Vec<u8>, i32)> {
    let s = s.trim();
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp_part) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let exp10: i32 = match exp_part {
        Some(e) => e.parse().ok()?,
        None => 0,
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    let lead = all.iter().take_while(|&&b| b == b'0').count();
    if lead == all.len() {
        return Some((false, Vec::new(), 0));
    }
    let mut digits = all[lead..].to_vec();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    let exp = int.len() as i32 - lead as i32 + exp10;
    // DynamoDB: up to 38 significant digits, magnitude 1E-130 to 9.9E+125.
    if digits.len() > 38 || !(-129..=126).contains(&exp) {
        return None;
    }
    Some((neg, digits, exp))
}

pub fn get_item(c: &Connection, table_id: i64, key: &Key) -> Result<Option<String>> {
    Ok(
        c.prepare_cached("SELECT item FROM kv_items WHERE table_id = ?1 AND pk = ?2 AND sk = ?3")?
            .query_row(params![table_id, key.0, key.1], |r| r.get(0))
            .optional()?,
    )
}

/// Stores the item (JSON text) under `key`, replacing any item there.
pub fn put_item(c: &Connection, table_id: i64, key: &Key, item: &str) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO kv_items (table_id, pk, sk, item, size) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (table_id, pk, sk) DO UPDATE SET item = excluded.item, size = excluded.size",
    )?
    .execute(params![table_id, key.0, key.1, item, item.len() as i64])?;
    Ok(())
}

pub fn delete_item(c: &Connection, table_id: i64, key: &Key) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM kv_items WHERE table_id = ?1 AND pk = ?2 AND sk = ?3")?
            .execute(params![table_id, key.0, key.1])?
            > 0,
    )
}

/// A bound of a sort-key range.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    Unbounded,
    Included(Vec<u8>),
    Excluded(Vec<u8>),
}

/// Items of one partition with sort key in `(lower, upper)`, ascending or descending, at most
/// `limit`; each with its sort key bytes.
pub fn query(
    c: &Connection,
    table_id: i64,
    pk: &[u8],
    lower: &Bound,
    upper: &Bound,
    forward: bool,
    limit: usize,
) -> Result<Vec<(Vec<u8>, String)>> {
    let mut sql = String::from("SELECT sk, item FROM kv_items WHERE table_id = ?1 AND pk = ?2");
    let mut args: Vec<Vec<u8>> = Vec::new();
    for (b, inc, exc) in [(lower, ">=", ">"), (upper, "<=", "<")] {
        match b {
            Bound::Unbounded => {}
            Bound::Included(v) | Bound::Excluded(v) => {
                let op = if matches!(b, Bound::Included(_)) {
                    inc
                } else {
                    exc
                };
                args.push(v.clone());
                sql.push_str(&format!(" AND sk {op} ?{}", args.len() + 2));
            }
        }
    }
    sql.push_str(if forward {
        " ORDER BY sk ASC"
    } else {
        " ORDER BY sk DESC"
    });
    sql.push_str(&format!(" LIMIT {limit}"));
    let mut st = c.prepare_cached(&sql)?;
    let mut bind: Vec<&dyn rusqlite::ToSql> = vec![&table_id, &pk];
    for a in &args {
        bind.push(a);
    }
    let rows = st
        .query_map(bind.as_slice(), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Items in key order after `after`, at most `limit`, with their keys.
pub fn scan(
    c: &Connection,
    table_id: i64,
    after: Option<&Key>,
    limit: usize,
) -> Result<Vec<(Key, String)>> {
    let map = |r: &rusqlite::Row| Ok(((r.get(0)?, r.get(1)?), r.get(2)?));
    let rows = match after {
        Some((pk, sk)) => c
            .prepare_cached(
                "SELECT pk, sk, item FROM kv_items WHERE table_id = ?1 AND (pk, sk) > (?2, ?3)
                 ORDER BY pk, sk LIMIT ?4",
            )?
            .query_map(params![table_id, pk, sk, limit as i64], map)?
            .collect::<rusqlite::Result<_>>()?,
        None => c
            .prepare_cached(
                "SELECT pk, sk, item FROM kv_items WHERE table_id = ?1 ORDER BY pk, sk LIMIT ?2",
            )?
            .query_map(params![table_id, limit as i64], map)?
            .collect::<rusqlite::Result<_>>()?,
    };
    Ok(rows)
}

/// Partition keys starting with `prefix`, in key order, at most `limit` (for tables without a
/// sort key).
pub fn keys_with_prefix(
    c: &Connection,
    table_id: i64,
    prefix: &[u8],
    limit: usize,
) -> Result<Vec<Vec<u8>>> {
    let end = prefix_end(prefix);
    let rows = c
        .prepare_cached(
            "SELECT pk FROM kv_items WHERE table_id = ?1 AND pk >= ?2 AND (?3 IS NULL OR pk < ?3)
             ORDER BY pk LIMIT ?4",
        )?
        .query_map(params![table_id, prefix, end, limit as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The smallest byte string greater than every string starting with `prefix` (None: none).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_conn;
    use serde_json::json;

    fn table(c: &Connection, tenant: i64, name: &str, sk: Option<(&str, &str)>) -> Table {
        c.execute(
            "INSERT OR IGNORE INTO tenants (id, name, account_id, created_ms) VALUES (?1, ?2, ?3, 0)",
            params![tenant, format!("t{tenant}"), format!("{tenant:012}")],
        )
        .unwrap();
        create(
            c,
            &Table {
                id: 0,
                tenant_id: tenant,
                name: name.into(),
                pk: ("pk".into(), "S".into()),
                sk: sk.map(|(n, t)| (n.into(), t.into())),
                definition: json!({}),
                created_ms: 0,
            },
        )
        .unwrap()
    }

    #[test]
    fn numbers_encode_in_value_order() {
        let ordered = [
            "-1e10", "-100", "-12.5", "-12", "-1.01", "-1", "-0.5", "-0.123", "-0.12", "0",
            "0.001", "0.12", "0.123", "1", "1.5", "2", "10", "10.5", "99", "100", "1e10",
        ];
        let enc: Vec<_> = ordered.iter().map(|n| encode_number(n).unwrap()).collect();
        for w in enc.windows(2) {
            assert!(w[0] < w[1], "{w:?}");
        }
        assert_eq!(encode_number("1.50"), encode_number("1.5"));
        assert_eq!(encode_number("-0"), encode_number("0.000"));
        assert_eq!(encode_number("1e2"), encode_number("100"));
        for bad in ["", "abc", "1.2.3", "1e", "--1", "."] {
            assert!(encode_number(bad).is_none(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn number_order_matches_f64_order(a in -1.0e9f64..1.0e9, b in -1.0e9f64..1.0e9) {
            let (ea, eb) = (encode_number(&format!("{a}")).unwrap(), encode_number(&format!("{b}")).unwrap());
            proptest::prop_assert_eq!(a.partial_cmp(&b).unwrap(), ea.cmp(&eb));
        }
    }

    #[test]
    fn keys_with_prefix_stay_inside_the_prefix() {
        let c = test_conn();
        let t = table(&c, 1, "t", None);
        for k in ["a", "ab", "abc", "ac", "b", "a\u{ff}"] {
            let item = json!({"pk": {"S": k}});
            let key = t.key_of(item.as_object().unwrap(), false).unwrap();
            put_item(&c, t.id, &key, &item.to_string()).unwrap();
        }
        let keys = |p: &str, n| keys_with_prefix(&c, t.id, p.as_bytes(), n).unwrap();
        assert_eq!(keys("ab", 10), [b"ab".to_vec(), b"abc".to_vec()]);
        assert_eq!(keys("a", 2), [b"a".to_vec(), b"ab".to_vec()]);
        assert_eq!(keys("a", 10).len(), 5);
        assert_eq!(keys("", 10).len(), 6);
        assert!(keys("z", 10).is_empty());
    }

    #[test]
    fn items_round_trip_and_query_is_a_range() {
        let c = test_conn();
        let t = table(&c, 1, "t", Some(("n", "N")));
        for n in [3, 1, 10, 2, 20] {
            let item = json!({"pk": {"S": "a"}, "n": {"N": n.to_string()}});
            let key = t.key_of(item.as_object().unwrap(), false).unwrap();
            put_item(&c, t.id, &key, &item.to_string()).unwrap();
        }
        let other = json!({"pk": {"S": "b"}, "n": {"N": "5"}});
        let key = t.key_of(other.as_object().unwrap(), false).unwrap();
        put_item(&c, t.id, &key, &other.to_string()).unwrap();
        let pk = b"a".to_vec();
        let got = query(
            &c,
            t.id,
            &pk,
            &Bound::Excluded(encode_number("1").unwrap()),
            &Bound::Included(encode_number("10").unwrap()),
            true,
            10,
        )
        .unwrap();
        let ns: Vec<String> = got
            .iter()
            .map(|(_, i)| {
                serde_json::from_str::<Value>(i).unwrap()["n"]["N"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ns, ["2", "3", "10"]);
        let desc = query(
            &c,
            t.id,
            &pk,
            &Bound::Unbounded,
            &Bound::Unbounded,
            false,
            2,
        )
        .unwrap();
        assert_eq!(desc.len(), 2);
        assert_eq!(desc[0].0, encode_number("20").unwrap());
        assert_eq!(stats(&c, t.id).unwrap().0, 6);
        let all = scan(&c, t.id, None, 4).unwrap();
        let rest = scan(&c, t.id, Some(&all[3].0), 10).unwrap();
        assert_eq!(all.len() + rest.len(), 6);
        assert!(delete_item(&c, t.id, &key).unwrap());
        assert!(get_item(&c, t.id, &key).unwrap().is_none());
    }

    #[test]
    fn keys_must_match_the_schema_and_tables_are_per_tenant() {
        let c = test_conn();
        let t = table(&c, 1, "t", None);
        let ok = json!({"pk": {"S": "x"}});
        assert!(t.key_of(ok.as_object().unwrap(), true).is_ok());
        for bad in [
            json!({"pk": {"N": "1"}}),
            json!({"other": {"S": "x"}}),
            json!({"pk": {"S": ""}}),
        ] {
            assert!(t.key_of(bad.as_object().unwrap(), true).is_err(), "{bad}");
        }
        let extra = json!({"pk": {"S": "x"}, "a": {"S": "y"}});
        assert!(t.key_of(extra.as_object().unwrap(), true).is_err());
        assert!(t.key_of(extra.as_object().unwrap(), false).is_ok());
        assert!(get(&c, 2, "t").unwrap().is_none());
        table(&c, 2, "t", None);
        assert!(matches!(
            create(
                &c,
                &Table {
                    tenant_id: 1,
                    ..t.clone()
                }
            ),
            Err(crate::Error::Conflict(_))
        ));
        assert_eq!(list(&c, 1, "", 10).unwrap(), ["t"]);
        assert!(delete(&c, 1, "t").unwrap());
        assert!(get(&c, 2, "t").unwrap().is_some());
    }

    #[test]
    fn prefix_end_is_the_next_string() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[b'a', 0xFF]), Some(b"b".to_vec()));
        assert_eq!(prefix_end(&[0xFF]), None);
    }
}
