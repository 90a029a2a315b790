//! DynamoDB over AWS JSON 1.0 (`X-Amz-Target: DynamoDB_20120810.<Action>`) on the built-in
//! tables of `sandflow_store::tables`: table lifecycle, item reads and conditional writes
//! (expressions from `sandflow_store::table_expr`), Query as a key-range scan, Scan, and the
//! batch actions, with DynamoDB's error names and messages. Conditional writes check and write
//! inside one store write, so they are atomic.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sandflow_engine::Caller;
use sandflow_store::table_expr::{
    self as expr, Action, Cmp, Cond, Item, Operand, Path, Placeholders, Step,
};
use sandflow_store::tables::{self, Bound, Key, MAX_ITEM_BYTES, Table};
use sandflow_store::{Connection, Store};
use serde_json::{Map, Value, json};

use super::errors::{AMZ_JSON, ApiError};
use super::{AppState, store_read, store_write};

pub const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// Responses stop at 1 MB of items, as DynamoDB's do.
const MAX_PAGE_BYTES: usize = 1024 * 1024;

type Res<T> = Result<T, ApiError>;

fn validation(m: impl Into<String>) -> ApiError {
    ApiError::client("com.amazon.coral.validate#ValidationException", m)
}

fn not_found() -> ApiError {
    ApiError::client(
        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
        "Requested resource not found",
    )
}

fn table_not_found(name: &str) -> ApiError {
    ApiError::client(
        "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
        format!("Requested resource not found: Table: {name} not found"),
    )
}

fn conditional_failed(old: Option<&Item>, return_old: bool) -> ApiError {
    let e = ApiError::client(
        "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "The conditional request failed",
    );
    match old {
        Some(item) if return_old => e.with("Item", Value::Object(item.clone())),
        _ => e,
    }
}

fn serialization(m: impl Into<String>) -> ApiError {
    ApiError::client("com.amazon.coral.service#SerializationException", m)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    let mut e = ApiError::internal(e);
    e.kind = "com.amazonaws.dynamodb.v20120810#InternalServerError";
    e
}

fn expr_err(e: expr::ExprError) -> ApiError {
    validation(e.0)
}

pub async fn handle(state: AppState, caller: Caller, action: &str, body: &Bytes) -> Response {
    let p = if body.iter().all(u8::is_ascii_whitespace) {
        Ok(Map::new())
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(serialization("The request body must be a JSON object")),
        }
    };
    let result = match p {
        Ok(p) => call(state.store(), caller, action, p).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
            r
        }
        Err(e) => e.into_response(),
    }
}

/// One DynamoDB call: `action` with the request members `p`, for `caller`.
pub async fn call(
    store: &Store,
    caller: Caller,
    action: &str,
    p: Map<String, Value>,
) -> Res<Value> {
    let ctx = Ctx {
        store: store.clone(),
        caller,
        p,
    };
    dispatch(&ctx, action).await
}

struct Ctx {
    store: Store,
    caller: Caller,
    p: Map<String, Value>,
}

impl Ctx {
    fn tenant(&self) -> i64 {
        self.caller.tenant_id
    }

    fn arn(&self, table: &str) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{table}",
            self.caller.region, self.caller.account
        )
    }

    fn opt_str(&self, name: &str) -> Res<Option<String>> {
        opt_str(&self.p, name)
    }

    /// `TableName`: a name or the table's ARN in the caller's account.
    fn table_name(&self) -> Res<String> {
        table_name_of(&self.p, &self.caller)
    }

    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> sandflow_store::Result<R> + Send + 'static,
    ) -> Res<R> {
        store_read(&self.store, f)
            .await
            .map_err(|e| internal(e.message))
    }

    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> sandflow_store::Result<R> + Send + 'static,
    ) -> Res<R> {
        store_write(&self.store, f)
            .await
            .map_err(|e| internal(e.message))
    }

    async fn table(&self, name: &str) -> Res<Table> {
        let (tenant, n) = (self.tenant(), name.to_string());
        self.read(move |c| tables::get(c, tenant, &n))
            .await?
            .ok_or_else(not_found)
    }
}

fn opt_str(p: &Map<String, Value>, name: &str) -> Res<Option<String>> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(serialization(format!("'{name}' must be a string"))),
    }
}

fn opt_map<'a>(p: &'a Map<String, Value>, name: &str) -> Res<Option<&'a Map<String, Value>>> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(serialization(format!("'{name}' must be a structure"))),
    }
}

fn table_name_of(p: &Map<String, Value>, caller: &Caller) -> Res<String> {
    let Some(name) = opt_str(p, "TableName")? else {
        return Err(validation(
            "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null",
        ));
    };
    if let Some(rest) = name.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        return match parts.as_slice() {
            ["aws", "dynamodb", _, account, res] if *account == caller.account => res
                .strip_prefix("table/")
                .map(str::to_string)
                .ok_or_else(not_found),
            _ => Err(not_found()),
        };
    }
    check_table_name(&name)?;
    Ok(name)
}

fn check_table_name(name: &str) -> Res<()> {
    if name.len() < 3 || name.len() > 255 {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'tableName' failed to satisfy constraint: Member must have length between 3 and 255"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )));
    }
    Ok(())
}

async fn dispatch(ctx: &Ctx, action: &str) -> Res<Value> {
    match action {
        "CreateTable" => create_table(ctx).await,
        "DescribeTable" => describe_table(ctx).await,
        "ListTables" => list_tables(ctx).await,
        "DeleteTable" => delete_table(ctx).await,
        "PutItem" => put_item(ctx).await,
        "GetItem" => get_item(ctx).await,
        "UpdateItem" => update_item(ctx).await,
        "DeleteItem" => delete_item(ctx).await,
        "Query" => query(ctx).await,
        "Scan" => scan(ctx).await,
        "BatchWriteItem" => batch_write(ctx).await,
        "BatchGetItem" => batch_get(ctx).await,
        _ => Err(ApiError::client(
            "com.amazon.coral.service#UnknownOperationException",
            format!("Unsupported operation: {action}"),
        )),
    }
}

// ---- tables ----

fn describe(ctx: &Ctx, t: &Table, status: &str, stats: (i64, i64)) -> Value {
    let mut d = t.definition.as_object().cloned().unwrap_or_default();
    let mut keys = vec![json!({"AttributeName": t.pk.0, "KeyType": "HASH"})];
    if let Some((n, _)) = &t.sk {
        keys.push(json!({"AttributeName": n, "KeyType": "RANGE"}));
    }
    let mut defs = vec![json!({"AttributeName": t.pk.0, "AttributeType": t.pk.1})];
    if let Some((n, ty)) = &t.sk {
        defs.push(json!({"AttributeName": n, "AttributeType": ty}));
    }
    let created = t.created_ms as f64 / 1000.0;
    let billing = d
        .remove("BillingMode")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "PROVISIONED".into());
    let (rcu, wcu) = (
        d.get("ReadCapacityUnits")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        d.get("WriteCapacityUnits")
            .and_then(Value::as_i64)
            .unwrap_or(0),
    );
    let mut out = json!({
        "AttributeDefinitions": defs,
        "TableName": t.name,
        "KeySchema": keys,
        "TableStatus": status,
        "CreationDateTime": created,
        "ProvisionedThroughput": {
            "NumberOfDecreasesToday": 0,
            "ReadCapacityUnits": rcu,
            "WriteCapacityUnits": wcu,
        },
        "TableSizeBytes": stats.1,
        "ItemCount": stats.0,
        "TableArn": ctx.arn(&t.name),
        "TableId": format!("{:08x}-0000-4000-8000-{:012x}", t.tenant_id, t.id),
        "DeletionProtectionEnabled": false,
    });
    if billing == "PAY_PER_REQUEST" {
        out["BillingModeSummary"] = json!({
            "BillingMode": "PAY_PER_REQUEST",
            "LastUpdateToPayPerRequestDateTime": created,
        });
    }
    out
}

async fn create_table(ctx: &Ctx) -> Res<Value> {
    let name = ctx.table_name()?;
    for unsupported in [
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "StreamSpecification",
    ] {
        if ctx
            .p
            .get(unsupported)
            .is_some_and(|v| !v.is_null() && v != &json!([]))
        {
            return Err(validation(format!(
                "{unsupported} are not supported by Sandflow's built-in tables"
            )));
        }
    }
    let list = |n: &str| -> Res<Vec<Map<String, Value>>> {
        match ctx.p.get(n) {
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_object()
                        .cloned()
                        .ok_or_else(|| serialization(format!("'{n}' must be a list of structures")))
                })
                .collect(),
            None | Some(Value::Null) => Err(validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(n)
            ))),
            Some(_) => Err(serialization(format!("'{n}' must be a list"))),
        }
    };
    let schema = list("KeySchema")?;
    let defs = list("AttributeDefinitions")?;
    let field = |m: &Map<String, Value>, k: &str| {
        m.get(k).and_then(Value::as_str).unwrap_or("").to_string()
    };
    let key_of = |kind: &str| {
        schema
            .iter()
            .find(|k| field(k, "KeyType") == kind)
            .map(|k| field(k, "AttributeName"))
    };
    let hash = key_of("HASH");
    let range = key_of("RANGE");
    if schema.is_empty()
        || schema.len() > 2
        || hash.is_none()
        || (schema.len() == 2 && range.is_none())
    {
        return Err(validation(
            "1 validation error detected: Value at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2, with one HASH key and at most one RANGE key",
        ));
    }
    if schema[0].get("KeyType").and_then(Value::as_str) != Some("HASH") {
        return Err(validation(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ));
    }
    let type_of = |n: &str| -> Res<String> {
        let t = defs
            .iter()
            .find(|d| field(d, "AttributeName") == n)
            .map(|d| field(d, "AttributeType"))
            .ok_or_else(|| validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [".to_string() + n + "], AttributeDefinitions: []"))?;
        if !["S", "N", "B"].contains(&t.as_str()) {
            return Err(validation(format!(
                "1 validation error detected: Value '{t}' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]"
            )));
        }
        Ok(t)
    };
    let hash = hash.expect("checked");
    let pk = (hash.clone(), type_of(&hash)?);
    let sk = match range {
        Some(r) => Some((r.clone(), type_of(&r)?)),
        None => None,
    };
    if defs.len() != schema.len() {
        return Err(validation(
            "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ));
    }
    let billing = ctx
        .opt_str("BillingMode")?
        .unwrap_or_else(|| "PROVISIONED".into());
    let throughput = opt_map(&ctx.p, "ProvisionedThroughput")?;
    let mut definition = Map::new();
    match (billing.as_str(), throughput) {
        ("PROVISIONED", Some(t)) => {
            let r = t.get("ReadCapacityUnits").and_then(Value::as_i64);
            let w = t.get("WriteCapacityUnits").and_then(Value::as_i64);
            match (r, w) {
                (Some(r), Some(w)) if r >= 1 && w >= 1 => {
                    definition.insert("ReadCapacityUnits".into(), r.into());
                    definition.insert("WriteCapacityUnits".into(), w.into());
                }
                _ => {
                    return Err(validation(
                        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified and at least 1",
                    ));
                }
            }
        }
        ("PROVISIONED", None) => {
            return Err(validation(
                "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
            ));
        }
        ("PAY_PER_REQUEST", Some(_)) => {
            return Err(validation(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ));
        }
        ("PAY_PER_REQUEST", None) => {}
        (other, _) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"
            )));
        }
    }
    definition.insert("BillingMode".into(), Value::String(billing));
    let t = Table {
        id: 0,
        tenant_id: ctx.tenant(),
        name: name.clone(),
        pk,
        sk,
        definition: Value::Object(definition),
        created_ms: chrono::Utc::now().timestamp_millis(),
    };
    let created = ctx
        .write(move |c| match tables::create(c, &t) {
            Ok(t) => Ok(Some(t)),
            Err(sandflow_store::Error::Conflict(_)) => Ok(None),
            Err(e) => Err(e),
        })
        .await?;
    let Some(t) = created else {
        return Err(ApiError::client(
            "com.amazonaws.dynamodb.v20120810#ResourceInUseException",
            format!("Table already exists: {name}"),
        ));
    };
    Ok(json!({ "TableDescription": describe(ctx, &t, "ACTIVE", (0, 0)) }))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

async fn describe_table(ctx: &Ctx) -> Res<Value> {
    let name = ctx.table_name()?;
    let (tenant, n) = (ctx.tenant(), name.clone());
    let found = ctx
        .read(move |c| match tables::get(c, tenant, &n)? {
            Some(t) => {
                let s = tables::stats(c, t.id)?;
                Ok(Some((t, s)))
            }
            None => Ok(None),
        })
        .await?;
    let (t, s) = found.ok_or_else(|| table_not_found(&name))?;
    Ok(json!({ "Table": describe(ctx, &t, "ACTIVE", s) }))
}

async fn list_tables(ctx: &Ctx) -> Res<Value> {
    let after = ctx.opt_str("ExclusiveStartTableName")?.unwrap_or_default();
    let limit = match ctx.p.get("Limit") {
        None | Some(Value::Null) => 100,
        Some(v) => match v.as_i64() {
            Some(n) if (1..=100).contains(&n) => n as usize,
            _ => {
                return Err(validation(format!(
                    "1 validation error detected: Value '{v}' at 'limit' failed to satisfy constraint: Member must have value between 1 and 100"
                )));
            }
        },
    };
    let tenant = ctx.tenant();
    let names = ctx
        .read(move |c| tables::list(c, tenant, &after, limit + 1))
        .await?;
    let more = names.len() > limit;
    let page: Vec<String> = names.into_iter().take(limit).collect();
    let mut out = json!({ "TableNames": page });
    if more {
        out["LastEvaluatedTableName"] = json!(page.last());
    }
    Ok(out)
}

async fn delete_table(ctx: &Ctx) -> Res<Value> {
    let name = ctx.table_name()?;
    let (tenant, n) = (ctx.tenant(), name.clone());
    let gone = ctx
        .write(move |c| match tables::get(c, tenant, &n)? {
            Some(t) => {
                let s = tables::stats(c, t.id)?;
                tables::delete(c, tenant, &n)?;
                Ok(Some((t, s)))
            }
            None => Ok(None),
        })
        .await?;
    let (t, s) = gone.ok_or_else(not_found)?;
    Ok(json!({ "TableDescription": describe(ctx, &t, "DELETING", s) }))
}

// ---- attribute values ----

/// Checks an AttributeValue's shape, as DynamoDB validates requests.
fn check_value(v: &Value) -> Res<()> {
    let Value::Object(m) = v else {
        return Err(serialization("An AttributeValue must be a structure"));
    };
    if m.is_empty() {
        return Err(validation(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        ));
    }
    if m.len() > 1 {
        return Err(validation(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ));
    }
    let (t, inner) = m.iter().next().expect("one member");
    let number = |s: &Value| -> Res<()> {
        match s.as_str().and_then(tables::parse_decimal) {
            Some(_) => Ok(()),
            None => Err(validation(
                "A value provided cannot be converted into a number",
            )),
        }
    };
    let binary = |s: &Value| -> Res<()> {
        match s.as_str().map(|s| STANDARD.decode(s)) {
            Some(Ok(_)) => Ok(()),
            _ => Err(serialization("Base64 encoded binary value is invalid")),
        }
    };
    match (t.as_str(), inner) {
        ("S", Value::String(_)) => Ok(()),
        ("N", n) => number(n),
        ("B", b) => binary(b),
        ("BOOL", Value::Bool(_)) => Ok(()),
        ("NULL", Value::Bool(true)) => Ok(()),
        ("NULL", Value::Bool(false)) => Err(validation(
            "One or more parameter values were invalid: Null attribute value types must have the value of true",
        )),
        ("M", Value::Object(m)) => m.values().try_for_each(check_value),
        ("L", Value::Array(a)) => a.iter().try_for_each(check_value),
        (set @ ("SS" | "NS" | "BS"), Value::Array(a)) => {
            if a.is_empty() {
                return Err(validation(format!(
                    "One or more parameter values were invalid: An {} set  may not be empty",
                    match set {
                        "SS" => "string",
                        "NS" => "number",
                        _ => "binary",
                    }
                )));
            }
            for e in a {
                match set {
                    "SS" if !e.is_string() => {
                        return Err(serialization("SS members must be strings"));
                    }
                    "NS" => number(e)?,
                    "BS" => binary(e)?,
                    _ => {}
                }
            }
            let elem = &set[..1];
            for (i, x) in a.iter().enumerate() {
                if a[i + 1..]
                    .iter()
                    .any(|y| expr::equal(&json!({elem: x}), &json!({elem: y})))
                {
                    return Err(validation(format!(
                        "One or more parameter values were invalid: Input collection {} contains duplicates.",
                        Value::Array(a.clone())
                    )));
                }
            }
            Ok(())
        }
        ("S" | "BOOL" | "M" | "L" | "NULL" | "SS" | "NS" | "BS", _) => {
            Err(serialization(format!("Unexpected value type for {t}")))
        }
        _ => Err(serialization(format!("Unknown AttributeValue type {t}"))),
    }
}

/// DynamoDB's item size: attribute names plus value sizes.
fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &Value) -> usize {
    let Some((t, inner)) = v.as_object().and_then(|m| m.iter().next()) else {
        return 0;
    };
    match (t.as_str(), inner) {
        ("S", Value::String(s)) => s.len(),
        ("N", Value::String(s)) => s.len() / 2 + 2,
        ("B", Value::String(s)) => s.len() * 3 / 4,
        ("M", Value::Object(m)) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        ("L", Value::Array(a)) => 3 + a.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        ("SS", Value::Array(a)) => a.iter().map(|s| s.as_str().map_or(0, str::len)).sum(),
        ("NS", Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map_or(0, |s| s.len() / 2 + 2))
            .sum(),
        ("BS", Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map_or(0, |s| s.len() * 3 / 4))
            .sum(),
        _ => 1,
    }
}

fn check_item_size(item: &Item) -> Res<()> {
    if item_size(item) > MAX_ITEM_BYTES {
        return Err(validation(
            "Item size has exceeded the maximum allowed size",
        ));
    }
    Ok(())
}

fn key_of(t: &Table, key: &Item, exact: bool) -> Res<Key> {
    t.key_of(key, exact).map_err(|e| validation(e.0))
}

fn required_map<'a>(p: &'a Map<String, Value>, name: &str) -> Res<&'a Map<String, Value>> {
    opt_map(p, name)?.ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(name)
        ))
    })
}

fn parse_item(p: &Map<String, Value>, name: &str) -> Res<Item> {
    let item = required_map(p, name)?;
    item.values().try_for_each(check_value)?;
    Ok(item.clone())
}

// ---- expressions of a request ----

/// The parsed expressions of one item request.
struct Exprs {
    condition: Option<Cond>,
    update: Option<Vec<Action>>,
    projection: Option<Vec<Path>>,
    filter: Option<Cond>,
    key_condition: Option<Cond>,
}

fn parse_exprs(p: &Map<String, Value>) -> Res<Exprs> {
    let names = opt_map(p, "ExpressionAttributeNames")?;
    let values = opt_map(p, "ExpressionAttributeValues")?;
    if let Some(v) = values {
        for (k, val) in v {
            if !k.starts_with(':') {
                return Err(validation(format!(
                    "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{k}\""
                )));
            }
            check_value(val)?;
        }
    }
    if let Some(n) = names {
        for (k, v) in n {
            if !k.starts_with('#') || !v.is_string() {
                return Err(validation(format!(
                    "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{k}\""
                )));
            }
        }
    }
    for legacy in [
        "Expected",
        "AttributeUpdates",
        "KeyConditions",
        "QueryFilter",
        "ScanFilter",
        "AttributesToGet",
        "ConditionalOperator",
    ] {
        if p.get(legacy).is_some_and(|v| !v.is_null()) {
            return Err(validation(format!(
                "The legacy parameter {legacy} is not supported; use expressions"
            )));
        }
    }
    let mut ph = Placeholders::new(names, values);
    let cond = |ph: &mut Placeholders, name: &'static str| -> Res<Option<Cond>> {
        match opt_str(p, name)? {
            Some(s) => Ok(Some(expr::parse_condition(&s, name, ph).map_err(expr_err)?)),
            None => Ok(None),
        }
    };
    let condition = cond(&mut ph, "ConditionExpression")?;
    let filter = cond(&mut ph, "FilterExpression")?;
    let key_condition = cond(&mut ph, "KeyConditionExpression")?;
    let update = match opt_str(p, "UpdateExpression")? {
        Some(s) => Some(expr::parse_update(&s, &mut ph).map_err(expr_err)?),
        None => None,
    };
    let projection = match opt_str(p, "ProjectionExpression")? {
        Some(s) => Some(expr::parse_projection(&s, &mut ph).map_err(expr_err)?),
        None => None,
    };
    if names.is_some_and(Map::is_empty) {
        return Err(validation("ExpressionAttributeNames must not be empty"));
    }
    if values.is_some_and(Map::is_empty) {
        return Err(validation("ExpressionAttributeValues must not be empty"));
    }
    ph.check_unused().map_err(expr_err)?;
    Ok(Exprs {
        condition,
        update,
        projection,
        filter,
        key_condition,
    })
}

fn return_values(p: &Map<String, Value>, allowed: &[&str]) -> Res<String> {
    let v = opt_str(p, "ReturnValues")?.unwrap_or_else(|| "NONE".into());
    if !allowed.contains(&v.as_str()) {
        return Err(validation("Return values set to invalid value"));
    }
    Ok(v)
}

fn return_old_on_failure(p: &Map<String, Value>) -> Res<bool> {
    Ok(opt_str(p, "ReturnValuesOnConditionCheckFailure")?.as_deref() == Some("ALL_OLD"))
}

fn parse_stored(s: &str) -> sandflow_store::Result<Item> {
    serde_json::from_str(s).map_err(|e| sandflow_store::Error::Corrupt(e.to_string()))
}

/// Runs one item write atomically: looks up the table and the current item, then `f` decides
/// (new item or none, and the response) or refuses with a client error.
async fn item_write<F>(ctx: &Ctx, table: String, key: Item, f: F) -> Res<Value>
where
    F: FnOnce(&Table, Option<Item>) -> Res<(Option<Item>, Value)> + Send + 'static,
{
    let tenant = ctx.tenant();
    ctx.write(move |c| {
        let Some(t) = tables::get(c, tenant, &table)? else {
            return Ok(Err(not_found()));
        };
        let k = match key_of(&t, &key, true) {
            Ok(k) => k,
            Err(e) => return Ok(Err(e)),
        };
        let old = tables::get_item(c, t.id, &k)?
            .map(|s| parse_stored(&s))
            .transpose()?;
        match f(&t, old) {
            Ok((Some(new), resp)) => {
                tables::put_item(c, t.id, &k, &Value::Object(new).to_string())?;
                Ok(Ok(resp))
            }
            Ok((None, resp)) => {
                tables::delete_item(c, t.id, &k)?;
                Ok(Ok(resp))
            }
            Err(e) => Ok(Err(e)),
        }
    })
    .await?
}

fn check_condition(cond: &Option<Cond>, old: Option<&Item>, return_old: bool) -> Res<()> {
    if let Some(c) = cond {
        let empty = Item::new();
        if !expr::eval(old.unwrap_or(&empty), c).map_err(expr_err)? {
            return Err(conditional_failed(old, return_old));
        }
    }
    Ok(())
}

fn attributes(item: Option<Item>) -> Value {
    match item {
        Some(i) => json!({ "Attributes": i }),
        None => json!({}),
    }
}

async fn put_item(ctx: &Ctx) -> Res<Value> {
    let name = ctx.table_name()?;
    let item = parse_item(&ctx.p, "Item")?;
    check_item_size(&item)?;
    let ex = parse_exprs(&ctx.p)?;
    let rv = return_values(&ctx.p, &["NONE", "ALL_OLD"])?;
    let on_fail = return_old_on_failure(&ctx.p)?;
    let t = ctx.table(&name).await?;
    key_of(&t, &item, false)?;
    let key = t.key_item(&item);
    let condition = ex.condition;
    item_write(ctx, name, key, move |_, old| {
        check_condition(&condition, old.as_ref(), on_fail)?;
        let resp = if rv == "ALL_OLD" {
            attributes(old)
        } else {
            json!({})
        };
        Ok((Some(item), resp))
    })
    .await
}

async fn delete_item(ctx: &Ctx) -> Res<Value> {
    let name = ctx.table_name()?;
    let key = parse_item(&ctx.p, "Key")?;
    let ex = parse_exprs(&ctx.p)?;
    let rv = return_values(&ctx.p, &["NONE", "ALL_OLD"])?;
    let on_fail = return_old_on_failure(&ctx.p)?;
    let condition = ex.condition;
    item_write(ctx, name, key, move |_, old| {
        check_condition(&condition, old.as_ref(), on_fail)?;
        let resp = if rv == "ALL_OLD" {
            attributes(old)
        } else {
            json!({})
        };
        Ok((None, resp))
    })
    .await
}

async fn update_item(ctx: &Ctx) -> Res<Value> {
    let name = ctx.table_name()?;
    let key = parse_item(&ctx.p, "Key")?;
    let ex = parse_exprs(&ctx.p)?;
    let rv = return_values(
        &ctx.p,
        &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
    )?;
    let on_fail = return_old_on_failure(&ctx.p)?;
    let (condition, actions) = (ex.condition, ex.update.unwrap_or_default());
    let key2 = key.clone();
    item_write(ctx, name, key, move |t, old| {
        check_condition(&condition, old.as_ref(), on_fail)?;
        let key_names: Vec<&String> = std::iter::once(&t.pk.0).chain(t.sk.as_ref().map(|s| &s.0)).collect();
        for a in &actions {
            let path = match a {
                Action::Set(p, _) | Action::Remove(p) | Action::Add(p, _) | Action::Delete(p, _) => p,
            };
            if let Step::Name(n) = &path[0]
                && key_names.contains(&n)
            {
                return Err(validation(format!(
                    "One or more parameter values were invalid: Cannot update attribute {n}. This attribute is part of the key"
                )));
            }
        }
        let mut new = old.clone().unwrap_or_else(|| key2.clone());
        let touched = expr::apply(&mut new, &actions).map_err(expr_err)?;
        for v in new.values() {
            check_value(v).map_err(|e| validation(e.message))?;
        }
        check_item_size(&new)?;
        let pick = |item: &Item| -> Item {
            item.iter()
                .filter(|(k, _)| touched.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let resp = match rv.as_str() {
            "ALL_OLD" => attributes(old.clone()),
            "UPDATED_OLD" => attributes(old.as_ref().map(pick).filter(|m| !m.is_empty())),
            "ALL_NEW" => attributes(Some(new.clone())),
            "UPDATED_NEW" => attributes(Some(pick(&new)).filter(|m| !m.is_empty())),
            _ => json!({}),
        };
        Ok((Some(new), resp))
    })
    .await
}

async fn get_item(ctx: &Ctx) -> Res<Value> {
    let name = ctx.table_name()?;
    let key = parse_item(&ctx.p, "Key")?;
    let ex = parse_exprs(&ctx.p)?;
    let tenant = ctx.tenant();
    let found = ctx
        .read(move |c| {
            let Some(t) = tables::get(c, tenant, &name)? else {
                return Ok(Err(not_found()));
            };
            let k = match key_of(&t, &key, true) {
                Ok(k) => k,
                Err(e) => return Ok(Err(e)),
            };
            Ok(Ok(tables::get_item(c, t.id, &k)?
                .map(|s| parse_stored(&s))
                .transpose()?))
        })
        .await??;
    Ok(match found {
        Some(item) => {
            let item = match &ex.projection {
                Some(p) => expr::project(&item, p),
                None => item,
            };
            json!({ "Item": item })
        }
        None => json!({}),
    })
}

// ---- Query and Scan ----

/// Sort-key bounds from a KeyConditionExpression, with the partition key's encoded value.
fn key_bounds(t: &Table, c: &Cond) -> Res<(Vec<u8>, Bound, Bound)> {
    let mut parts = Vec::new();
    fn flatten<'c>(c: &'c Cond, out: &mut Vec<&'c Cond>) {
        match c {
            Cond::And(a, b) => {
                flatten(a, out);
                flatten(b, out);
            }
            other => out.push(other),
        }
    }
    flatten(c, &mut parts);
    let unsupported = || validation("Query key condition not supported");
    let is_attr = |o: &Operand, name: &str| matches!(o, Operand::Path(p) if p.len() == 1 && p[0] == Step::Name(name.to_string()));
    let encode = |ty: &str, v: &Value| -> Res<Vec<u8>> {
        v.get(ty)
            .and_then(|x| tables::encode(ty, x))
            .ok_or_else(|| validation("One or more parameter values were invalid: Condition parameter type does not match schema type"))
    };
    let mut pk = None;
    let (mut lower, mut upper) = (Bound::Unbounded, Bound::Unbounded);
    let mut have_sk = false;
    for part in parts {
        match part {
            Cond::Cmp(a, Cmp::Eq, Operand::Value(v)) | Cond::Cmp(Operand::Value(v), Cmp::Eq, a)
                if is_attr(a, &t.pk.0) && pk.is_none() =>
            {
                pk = Some(encode(&t.pk.1, v)?);
            }
            _ => {
                let Some((sk, ty)) = &t.sk else {
                    return Err(unsupported());
                };
                if have_sk {
                    return Err(unsupported());
                }
                have_sk = true;
                match part {
                    Cond::Cmp(a, op, Operand::Value(v)) if is_attr(a, sk) => {
                        let b = encode(ty, v)?;
                        set_bounds(*op, b, &mut lower, &mut upper).ok_or_else(unsupported)?;
                    }
                    Cond::Cmp(Operand::Value(v), op, a) if is_attr(a, sk) => {
                        let flipped = match op {
                            Cmp::Lt => Cmp::Gt,
                            Cmp::Le => Cmp::Ge,
                            Cmp::Gt => Cmp::Lt,
                            Cmp::Ge => Cmp::Le,
                            o => *o,
                        };
                        let b = encode(ty, v)?;
                        set_bounds(flipped, b, &mut lower, &mut upper).ok_or_else(unsupported)?;
                    }
                    Cond::Between(a, Operand::Value(lo), Operand::Value(hi)) if is_attr(a, sk) => {
                        let (lo, hi) = (encode(ty, lo)?, encode(ty, hi)?);
                        if lo > hi {
                            return Err(validation(
                                "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound",
                            ));
                        }
                        lower = Bound::Included(lo);
                        upper = Bound::Included(hi);
                    }
                    Cond::BeginsWith(a, Operand::Value(v)) if is_attr(a, sk) => {
                        if ty == "N" {
                            return Err(validation(
                                "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: NUMBER",
                            ));
                        }
                        let prefix = encode(ty, v)?;
                        upper = match tables::prefix_end(&prefix) {
                            Some(e) => Bound::Excluded(e),
                            None => Bound::Unbounded,
                        };
                        lower = Bound::Included(prefix);
                    }
                    _ => return Err(unsupported()),
                }
            }
        }
    }
    let pk = pk.ok_or_else(|| {
        validation(format!(
            "Query condition missed key schema element: {}",
            t.pk.0
        ))
    })?;
    Ok((pk, lower, upper))
}

fn set_bounds(op: Cmp, b: Vec<u8>, lower: &mut Bound, upper: &mut Bound) -> Option<()> {
    match op {
        Cmp::Eq => {
            *lower = Bound::Included(b.clone());
            *upper = Bound::Included(b);
        }
        Cmp::Lt => *upper = Bound::Excluded(b),
        Cmp::Le => *upper = Bound::Included(b),
        Cmp::Gt => *lower = Bound::Excluded(b),
        Cmp::Ge => *lower = Bound::Included(b),
        Cmp::Ne => return None,
    }
    Some(())
}

/// Narrows a bound to start after `start` (exclusive), keeping the tighter one.
fn after(bound: Bound, start: Vec<u8>, is_lower: bool) -> Bound {
    let tighter = match &bound {
        Bound::Unbounded => true,
        Bound::Included(b) | Bound::Excluded(b) => {
            if is_lower {
                start >= *b
            } else {
                start <= *b
            }
        }
    };
    if tighter {
        Bound::Excluded(start)
    } else {
        bound
    }
}

fn limit_of(p: &Map<String, Value>) -> Res<Option<usize>> {
    match p.get("Limit") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if n >= 1 => Ok(Some(n as usize)),
            _ => Err(validation(format!(
                "1 validation error detected: Value '{v}' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
            ))),
        },
    }
}

fn select_of(p: &Map<String, Value>, has_projection: bool) -> Res<String> {
    let s = opt_str(p, "Select")?.unwrap_or_else(|| {
        if has_projection {
            "SPECIFIC_ATTRIBUTES"
        } else {
            "ALL_ATTRIBUTES"
        }
        .into()
    });
    match s.as_str() {
        "ALL_ATTRIBUTES" | "COUNT" | "SPECIFIC_ATTRIBUTES" => Ok(s),
        "ALL_PROJECTED_ATTRIBUTES" => Err(validation(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName",
        )),
        _ => Err(validation(format!(
            "1 validation error detected: Value '{s}' at 'select' failed to satisfy constraint: Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
        ))),
    }
}

/// Reads pages of rows through `fetch(after, n)` until `limit` rows or 1 MB were evaluated;
/// then filters and projects. Returns the response.
fn collect_page(
    t: &Table,
    limit: Option<usize>,
    ex: &Exprs,
    select: &str,
    mut fetch: impl FnMut(Option<&Key>, usize) -> sandflow_store::Result<Vec<(Key, String)>>,
) -> sandflow_store::Result<Res<Value>> {
    const CHUNK: usize = 256;
    let mut items = Vec::new();
    let (mut scanned, mut bytes) = (0usize, 0usize);
    let mut last: Option<(Key, Item)> = None;
    let mut exhausted = false;
    loop {
        let want = limit.map_or(CHUNK, |l| (l - scanned).min(CHUNK));
        if want == 0 {
            break;
        }
        let rows = fetch(last.as_ref().map(|(k, _)| k), want)?;
        let got = rows.len();
        for (k, s) in rows {
            bytes += s.len();
            let item = parse_stored(&s)?;
            scanned += 1;
            let keep = match &ex.filter {
                Some(f) => match expr::eval(&item, f) {
                    Ok(b) => b,
                    Err(e) => return Ok(Err(expr_err(e))),
                },
                None => true,
            };
            if keep {
                items.push(match &ex.projection {
                    Some(p) => expr::project(&item, p),
                    None => item.clone(),
                });
            }
            last = Some((k, item));
            if bytes >= MAX_PAGE_BYTES {
                break;
            }
        }
        if got < want {
            exhausted = true;
            break;
        }
        if bytes >= MAX_PAGE_BYTES {
            break;
        }
    }
    let mut out = Map::new();
    out.insert("Count".into(), items.len().into());
    out.insert("ScannedCount".into(), scanned.into());
    if select != "COUNT" {
        out.insert(
            "Items".into(),
            Value::Array(items.into_iter().map(Value::Object).collect()),
        );
    }
    if !exhausted && let Some((_, item)) = last {
        out.insert("LastEvaluatedKey".into(), Value::Object(t.key_item(&item)));
    }
    Ok(Ok(Value::Object(out)))
}

fn no_index(p: &Map<String, Value>) -> Res<()> {
    if let Some(i) = opt_str(p, "IndexName")? {
        return Err(validation(format!(
            "The table does not have the specified index: {i}"
        )));
    }
    Ok(())
}

async fn query(ctx: &Ctx) -> Res<Value> {
    let name = ctx.table_name()?;
    no_index(&ctx.p)?;
    let ex = parse_exprs(&ctx.p)?;
    let limit = limit_of(&ctx.p)?;
    let select = select_of(&ctx.p, ex.projection.is_some())?;
    let forward = match ctx.p.get("ScanIndexForward") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(serialization("'ScanIndexForward' must be a boolean")),
    };
    let start = opt_map(&ctx.p, "ExclusiveStartKey")?.cloned();
    if ex.key_condition.is_none() {
        return Err(validation(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
        ));
    }
    let t = ctx.table(&name).await?;
    let (pk, mut lower, mut upper) = key_bounds(&t, ex.key_condition.as_ref().expect("checked"))?;
    if let Some(s) = &start {
        let (spk, ssk) = key_of(&t, s, true)?;
        if spk != pk {
            return Err(validation(
                "The provided starting key is invalid: The provided key element does not match the schema",
            ));
        }
        if forward {
            lower = after(lower, ssk, true);
        } else {
            upper = after(upper, ssk, false);
        }
    }
    let tid = t.id;
    ctx.read(move |c| {
        collect_page(&t, limit, &ex, &select, |last, n| {
            let (lo, hi) = match last {
                Some((_, sk)) if forward => (Bound::Excluded(sk.clone()), upper.clone()),
                Some((_, sk)) => (lower.clone(), Bound::Excluded(sk.clone())),
                None => (lower.clone(), upper.clone()),
            };
            Ok(tables::query(c, tid, &pk, &lo, &hi, forward, n)?
                .into_iter()
                .map(|(sk, item)| ((pk.clone(), sk), item))
                .collect())
        })
    })
    .await?
}

async fn scan(ctx: &Ctx) -> Res<Value> {
    let name = ctx.table_name()?;
    no_index(&ctx.p)?;
    if ctx.p.get("KeyConditionExpression").is_some() {
        return Err(validation(
            "KeyConditionExpression can only be used with Query",
        ));
    }
    let ex = parse_exprs(&ctx.p)?;
    let limit = limit_of(&ctx.p)?;
    let select = select_of(&ctx.p, ex.projection.is_some())?;
    let segments = ctx.p.get("TotalSegments").and_then(Value::as_i64);
    let segment = ctx.p.get("Segment").and_then(Value::as_i64);
    let start = opt_map(&ctx.p, "ExclusiveStartKey")?.cloned();
    let t = ctx.table(&name).await?;
    let start = match &start {
        Some(s) => Some(key_of(&t, s, true)?),
        None => None,
    };
    // Parallel scans: every item is in segment 0.
    if segments.is_some_and(|n| n > 1) && segment.is_some_and(|s| s > 0) {
        return Ok(json!({"Items": [], "Count": 0, "ScannedCount": 0}));
    }
    let tid = t.id;
    ctx.read(move |c| {
        collect_page(&t, limit, &ex, &select, |last, n| {
            tables::scan(c, tid, last.or(start.as_ref()), n)
        })
    })
    .await?
}

// ---- batches ----

async fn batch_write(ctx: &Ctx) -> Res<Value> {
    let requests = required_map(&ctx.p, "RequestItems")?;
    enum Op {
        Put(Item),
        Delete(Item),
    }
    let mut ops: Vec<(String, Op)> = Vec::new();
    for (table, list) in requests {
        let Value::Array(list) = list else {
            return Err(serialization("RequestItems values must be lists"));
        };
        let n = table_name_of(
            &Map::from_iter([("TableName".to_string(), Value::String(table.clone()))]),
            &ctx.caller,
        )?;
        for r in list {
            let put = r.get("PutRequest").and_then(Value::as_object);
            let del = r.get("DeleteRequest").and_then(Value::as_object);
            match (put, del) {
                (Some(p), None) => {
                    let item = parse_item(p, "Item")?;
                    check_item_size(&item)?;
                    ops.push((n.clone(), Op::Put(item)));
                }
                (None, Some(d)) => ops.push((n.clone(), Op::Delete(parse_item(d, "Key")?))),
                _ => {
                    return Err(validation(
                        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                    ));
                }
            }
        }
    }
    if ops.is_empty() || ops.len() > 25 {
        return Err(validation(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]",
        ));
    }
    let tenant = ctx.tenant();
    ctx.write(move |c| {
        // Check everything first so that a bad request writes nothing.
        let mut planned = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (name, op) in &ops {
            let Some(t) = tables::get(c, tenant, name)? else {
                return Ok(Err(not_found()));
            };
            let k = match op {
                Op::Put(i) => key_of(&t, i, false),
                Op::Delete(k) => key_of(&t, k, true),
            };
            let k = match k {
                Ok(k) => k,
                Err(e) => return Ok(Err(e)),
            };
            if !seen.insert((t.id, k.clone())) {
                return Ok(Err(validation(
                    "Provided list of item keys contains duplicates",
                )));
            }
            planned.push((t.id, k, op));
        }
        for (tid, k, op) in planned {
            match op {
                Op::Put(i) => tables::put_item(c, tid, &k, &Value::Object(i.clone()).to_string())?,
                Op::Delete(_) => {
                    tables::delete_item(c, tid, &k)?;
                }
            }
        }
        Ok(Ok(json!({"UnprocessedItems": {}})))
    })
    .await?
}

async fn batch_get(ctx: &Ctx) -> Res<Value> {
    let requests = required_map(&ctx.p, "RequestItems")?;
    let mut plan = Vec::new();
    let mut total = 0;
    for (table, spec) in requests {
        let Value::Object(spec) = spec else {
            return Err(serialization("RequestItems values must be structures"));
        };
        let n = table_name_of(
            &Map::from_iter([("TableName".to_string(), Value::String(table.clone()))]),
            &ctx.caller,
        )?;
        let keys = match spec.get("Keys") {
            Some(Value::Array(k)) => k.clone(),
            _ => {
                return Err(validation(
                    "1 validation error detected: Value null at 'requestItems.keys' failed to satisfy constraint: Member must not be null",
                ));
            }
        };
        let mut parsed = Vec::new();
        for k in &keys {
            let Value::Object(k) = k else {
                return Err(serialization("Keys must be structures"));
            };
            k.values().try_for_each(check_value)?;
            parsed.push(k.clone());
        }
        total += parsed.len();
        let ex = parse_exprs(spec)?;
        plan.push((table.clone(), n, parsed, ex.projection));
    }
    if total == 0 || total > 100 {
        return Err(validation(
            "Too many items requested for the BatchGetItem call",
        ));
    }
    let tenant = ctx.tenant();
    ctx.read(move |c| {
        let mut responses = Map::new();
        for (label, name, keys, projection) in plan {
            let Some(t) = tables::get(c, tenant, &name)? else {
                return Ok(Err(not_found()));
            };
            let mut items = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for k in keys {
                let key = match key_of(&t, &k, true) {
                    Ok(key) => key,
                    Err(e) => return Ok(Err(e)),
                };
                if !seen.insert(key.clone()) {
                    return Ok(Err(validation(
                        "Provided list of item keys contains duplicates",
                    )));
                }
                if let Some(s) = tables::get_item(c, t.id, &key)? {
                    let item = parse_stored(&s)?;
                    items.push(Value::Object(match &projection {
                        Some(p) => expr::project(&item, p),
                        None => item,
                    }));
                }
            }
            responses.insert(label, Value::Array(items));
        }
        Ok(Ok(json!({"Responses": responses, "UnprocessedKeys": {}})))
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_are_validated() {
        for ok in [
            json!({"S": "x"}),
            json!({"N": "-1.5e3"}),
            json!({"B": "AAE="}),
            json!({"NULL": true}),
            json!({"M": {"a": {"L": [{"BOOL": false}]}}}),
            json!({"SS": ["a", "b"]}),
        ] {
            assert!(check_value(&ok).is_ok(), "{ok}");
        }
        for bad in [
            json!({}),
            json!({"S": "x", "N": "1"}),
            json!({"N": "one"}),
            json!({"SS": []}),
            json!({"SS": ["a", "a"]}),
            json!({"NS": ["1", "1.0"]}),
            json!({"X": "y"}),
            json!("plain"),
        ] {
            assert!(check_value(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_conditions_become_ranges() {
        let t = Table {
            id: 1,
            tenant_id: 1,
            name: "t".into(),
            pk: ("pk".into(), "S".into()),
            sk: Some(("sk".into(), "S".into())),
            definition: json!({}),
            created_ms: 0,
        };
        let values: Map<String, Value> = serde_json::from_value(json!({
            ":p": {"S": "a"}, ":lo": {"S": "b"}, ":hi": {"S": "d"}, ":n": {"N": "1"}
        }))
        .unwrap();
        let bounds = |src: &str| {
            let mut ph = Placeholders::new(None, Some(&values));
            let c = expr::parse_condition(src, "KeyConditionExpression", &mut ph).unwrap();
            key_bounds(&t, &c)
        };
        let (pk, lo, hi) = bounds("pk = :p AND sk BETWEEN :lo AND :hi").unwrap();
        assert_eq!(pk, b"a");
        assert_eq!(
            (lo, hi),
            (
                Bound::Included(b"b".to_vec()),
                Bound::Included(b"d".to_vec())
            )
        );
        let (_, lo, hi) = bounds("begins_with(sk, :lo) AND pk = :p").unwrap();
        assert_eq!(
            (lo, hi),
            (
                Bound::Included(b"b".to_vec()),
                Bound::Excluded(b"c".to_vec())
            )
        );
        let (_, lo, hi) = bounds(":lo < sk AND pk = :p").unwrap();
        assert_eq!((lo, hi), (Bound::Excluded(b"b".to_vec()), Bound::Unbounded));
        assert!(
            bounds("sk = :lo")
                .unwrap_err()
                .message
                .contains("missed key schema element: pk")
        );
        assert!(
            bounds("pk = :n")
                .unwrap_err()
                .message
                .contains("type does not match")
        );
        assert!(bounds("pk = :p OR sk = :lo").is_err());
        assert!(bounds("pk = :p AND sk <> :lo").is_err());
        assert!(bounds("pk = :p AND sk > :lo AND sk < :hi").is_err());
    }

    #[test]
    fn item_size_counts_names_and_values() {
        let item: Item =
            serde_json::from_value(json!({"ab": {"S": "xyz"}, "n": {"BOOL": true}})).unwrap();
        assert_eq!(item_size(&item), 2 + 3 + 1 + 1);
        let big: Item =
            serde_json::from_value(json!({"a": {"S": "x".repeat(MAX_ITEM_BYTES)}})).unwrap();
        assert!(check_item_size(&big).is_err());
    }

    #[test]
    fn exclusive_start_narrows_bounds() {
        assert_eq!(
            after(Bound::Unbounded, vec![5], true),
            Bound::Excluded(vec![5])
        );
        assert_eq!(
            after(Bound::Included(vec![7]), vec![5], true),
            Bound::Included(vec![7])
        );
        assert_eq!(
            after(Bound::Included(vec![7]), vec![9], false),
            Bound::Included(vec![7])
        );
        assert_eq!(
            after(Bound::Included(vec![7]), vec![6], false),
            Bound::Excluded(vec![6])
        );
    }

    const NS: &str = "com.amazonaws.dynamodb.v20120810#";

    #[test]
    fn namespaced_errors() {
        assert!(not_found().kind.starts_with(NS));
        assert_eq!(
            conditional_failed(None, false).kind,
            format!("{NS}ConditionalCheckFailedException")
        );
    }
}
