//! EventBridge connections (`X-Amz-Target: AWSEvents.<Action>`, JSON 1.1, signed as `events`):
//! CreateConnection, DescribeConnection, ListConnections, DeleteConnection. A connection holds
//! the credentials an HTTP task (`http:invoke`) sends: basic or API key authorization and extra
//! header, query and body parameters. Secrets are sealed by the server at once; no answer,
//! history event or log shows them again.

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sandflow_engine::Caller;
use sandflow_store::connections::{self, Connection};
use serde_json::{Map, Value, json};

use super::AppState;
use super::errors::{ApiError, ApiResult};
use super::params::Params;

pub const TARGET_PREFIX: &str = "AWSEvents.";
const AMZ_JSON_11: &str = "application/x-amz-json-1.1";
const MAX_LIST: i64 = 100;

pub async fn handle(state: AppState, caller: Caller, action: &str, body: &Bytes) -> Response {
    let result = match Params::parse(body) {
        Ok(mut p) => dispatch(&state, &caller, action, &mut p).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON_11));
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    state: &AppState,
    caller: &Caller,
    action: &str,
    p: &mut Params,
) -> ApiResult<Value> {
    match action {
        "CreateConnection" => create(state, caller, p).await,
        "DescribeConnection" => describe(state, caller, p).await,
        "ListConnections" => list(state, caller, p).await,
        "DeleteConnection" => delete(state, caller, p).await,
        _ => Err(ApiError::client(
            "UnknownOperationException",
            format!("This server's EventBridge has connections only; {action} is not supported"),
        )),
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::client(
        "ResourceNotFoundException",
        format!("Connection '{name}' does not exist."),
    )
}

fn epoch(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn name_of(p: &mut Params) -> ApiResult<String> {
    let name = p.req_str("Name", 1, 64, false)?;
    if !name.is_empty()
        && !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
        )));
    }
    Ok(name)
}

/// A `[{Key, Value, IsValueSecret}]` list without the secret values.
fn public_parameters(list: &Value) -> Value {
    let items = list.as_array().cloned().unwrap_or_default();
    Value::Array(
        items
            .into_iter()
            .map(|mut item| {
                if item.get("IsValueSecret").and_then(Value::as_bool) == Some(true)
                    && let Some(m) = item.as_object_mut()
                {
                    m.remove("Value");
                }
                item
            })
            .collect(),
    )
}

/// Checks the auth parameters for `auth_type`; returns what DescribeConnection may show.
fn check_auth(auth_type: &str, auth: &Map<String, Value>) -> ApiResult<Value> {
    let member = |outer: &str, inner: &str| {
        auth.get(outer)
            .and_then(|o| o.get(inner))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut public = Map::new();
    match auth_type {
        "BASIC" => {
            let user = member("BasicAuthParameters", "Username");
            if user.is_none() || member("BasicAuthParameters", "Password").is_none() {
                return Err(ApiError::validation(
                    "BasicAuthParameters with Username and Password are required for BASIC authorization.",
                ));
            }
            public.insert("BasicAuthParameters".into(), json!({"Username": user}));
        }
        "API_KEY" => {
            let name = member("ApiKeyAuthParameters", "ApiKeyName");
            if name.is_none() || member("ApiKeyAuthParameters", "ApiKeyValue").is_none() {
                return Err(ApiError::validation(
                    "ApiKeyAuthParameters with ApiKeyName and ApiKeyValue are required for API_KEY authorization.",
                ));
            }
            public.insert("ApiKeyAuthParameters".into(), json!({"ApiKeyName": name}));
        }
        "OAUTH_CLIENT_CREDENTIALS" => {
            return Err(ApiError::validation(
                "OAUTH_CLIENT_CREDENTIALS connections are not supported by this server; use BASIC or API_KEY.",
            ));
        }
        other => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{other}' at 'authorizationType' failed to satisfy constraint: Member must satisfy enum value set: [BASIC, OAUTH_CLIENT_CREDENTIALS, API_KEY]"
            )));
        }
    }
    if let Some(Value::Object(inv)) = auth.get("InvocationHttpParameters") {
        let mut shown = Map::new();
        for key in [
            "HeaderParameters",
            "QueryStringParameters",
            "BodyParameters",
        ] {
            if let Some(list) = inv.get(key) {
                if !list.is_array() {
                    return Err(ApiError::serialization(format!("'{key}' must be a list")));
                }
                shown.insert(key.into(), public_parameters(list));
            }
        }
        public.insert("InvocationHttpParameters".into(), Value::Object(shown));
    }
    Ok(Value::Object(public))
}

fn summary(c: &Connection) -> Value {
    json!({
        "ConnectionArn": c.arn,
        "Name": c.name,
        "ConnectionState": "AUTHORIZED",
        "AuthorizationType": c.auth_type,
        "CreationTime": epoch(c.created_ms),
        "LastModifiedTime": epoch(c.updated_ms),
        "LastAuthorizedTime": epoch(c.updated_ms),
    })
}

async fn create(state: &AppState, caller: &Caller, p: &mut Params) -> ApiResult<Value> {
    let name = name_of(p)?;
    let description = p.opt_str("Description", 0, 512, false)?.unwrap_or_default();
    let auth_type = p.req_str("AuthorizationType", 1, 64, false)?;
    let auth = p.opt_object("AuthParameters")?;
    if auth.is_none() {
        p.missing("AuthParameters");
    }
    p.finish()?;
    let auth = auth.unwrap_or_default();
    let public = check_auth(&auth_type, &auth)?;
    let arn = format!(
        "arn:aws:events:{}:{}:connection/{name}/{}",
        caller.region,
        caller.account,
        super::sfn::uuid()
    );
    let now = chrono::Utc::now().timestamp_millis();
    let row = Connection {
        tenant_id: caller.tenant_id,
        name: name.clone(),
        arn: arn.clone(),
        description,
        auth_type,
        public: public.to_string(),
        sealed: state.sealer().seal(&arn, &Value::Object(auth).to_string()),
        created_ms: now,
        updated_ms: now,
    };
    let created = state
        .write(move |c| match connections::create(c, &row) {
            Ok(()) => Ok(true),
            Err(sandflow_store::Error::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        })
        .await?;
    if !created {
        return Err(ApiError::client(
            "ResourceAlreadyExistsException",
            format!("Connection {name} already exists."),
        ));
    }
    Ok(json!({
        "ConnectionArn": arn,
        "ConnectionState": "AUTHORIZED",
        "CreationTime": epoch(now),
        "LastModifiedTime": epoch(now),
    }))
}

async fn find(state: &AppState, caller: &Caller, name: String) -> ApiResult<Connection> {
    let tenant = caller.tenant_id;
    let n = name.clone();
    state
        .read(move |c| connections::get(c, tenant, &n))
        .await?
        .ok_or_else(|| not_found(&name))
}

async fn describe(state: &AppState, caller: &Caller, p: &mut Params) -> ApiResult<Value> {
    let name = name_of(p)?;
    p.finish()?;
    let c = find(state, caller, name).await?;
    let mut out = summary(&c);
    out["Description"] = json!(c.description);
    out["AuthParameters"] = serde_json::from_str(&c.public).unwrap_or(Value::Null);
    Ok(out)
}

async fn list(state: &AppState, caller: &Caller, p: &mut Params) -> ApiResult<Value> {
    let prefix = p.opt_str("NamePrefix", 1, 64, false)?.unwrap_or_default();
    let state_filter = p.opt_str("ConnectionState", 1, 32, false)?;
    let after = p.opt_str("NextToken", 1, 2048, false)?.unwrap_or_default();
    let limit = p.opt_int("Limit", 1, MAX_LIST)?.unwrap_or(MAX_LIST) as usize;
    p.finish()?;
    let tenant = caller.tenant_id;
    let mut rows = state
        .read(move |c| connections::list(c, tenant, &prefix, &after, limit + 1))
        .await?;
    // Every connection here is AUTHORIZED: any other state filter matches none.
    if state_filter.is_some_and(|s| s != "AUTHORIZED") {
        rows.clear();
    }
    let next = (rows.len() > limit).then(|| rows[limit - 1].name.clone());
    rows.truncate(limit);
    let mut out = json!({"Connections": rows.iter().map(summary).collect::<Vec<_>>()});
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}

async fn delete(state: &AppState, caller: &Caller, p: &mut Params) -> ApiResult<Value> {
    let name = name_of(p)?;
    p.finish()?;
    let c = find(state, caller, name.clone()).await?;
    let tenant = caller.tenant_id;
    if !state
        .write(move |db| connections::delete(db, tenant, &name))
        .await?
    {
        return Err(not_found(&c.name));
    }
    let mut out = summary(&c);
    out["ConnectionState"] = json!("DELETING");
    if let Some(m) = out.as_object_mut() {
        m.remove("Name");
        m.remove("AuthorizationType");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_the_public_parameters() {
        let auth: Map<String, Value> = serde_json::from_value(json!({
            "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "s3cret"},
            "InvocationHttpParameters": {"HeaderParameters": [
                {"Key": "x-tenant", "Value": "acme", "IsValueSecret": false},
                {"Key": "x-token", "Value": "hidden", "IsValueSecret": true}]}
        }))
        .unwrap();
        let public = check_auth("API_KEY", &auth).unwrap().to_string();
        assert!(
            !public.contains("s3cret") && !public.contains("hidden"),
            "{public}"
        );
        assert!(
            public.contains("x-api-key") && public.contains("acme"),
            "{public}"
        );
        assert!(
            check_auth("BASIC", &auth).is_err(),
            "BASIC needs its own parameters"
        );
        assert!(check_auth("OAUTH_CLIENT_CREDENTIALS", &auth).is_err());
        assert!(check_auth("DIGEST", &auth).is_err());
    }
}
