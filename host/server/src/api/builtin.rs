//! The built-in SQS and DynamoDB as Task states and guests reach them: the engine's service
//! integrations call the same code the API serves, and the guests' `kv` and `queue`
//! capabilities are the same tables and queues, so a workflow, a guest and a boto3 client all
//! see one set of queues and tables. Also HTTP tasks (`http:invoke`): the host adds the
//! connection's credentials, and only origins the tenant is allowed are called.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::sync::Arc;
use std::time::Duration;

use sandflow_core::Failure;
use sandflow_core::error::names;
use sandflow_core::http_task::{self, HttpInvoke};
use sandflow_core::run::TaskOutcome;
use sandflow_core::services::{Service, ServiceError};
use sandflow_engine::tasks::BoxFuture;
use sandflow_engine::{Caller, Services};
use sandflow_runtime::dns::{self, PublicOnlyResolver};
use sandflow_runtime::services::{
    BackendError, BoxFuture as KvFuture, KvStore, Namespace, QueueMessage, QueueStore,
};
use sandflow_store::{Store, connections, http_origins, queues, tables, tenants};
use serde_json::{Value, json};

use super::{dynamodb, sqs, store_write};
use crate::tenancy::Sealer;

/// Queue URLs a workflow is given (GetQueueUrl, CreateQueue) name this host; any host works
/// when they are used, since only the account and name count.
const QUEUE_HOST: &str = "localhost";

#[derive(Clone)]
pub struct BuiltinServices {
    store: Store,
    /// Opens connections' secrets for HTTP tasks.
    sealer: Sealer,
    http: reqwest::Client,
}

/// How long an HTTP task waits for its answer (Step Functions: 60 s).
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// The most of an HTTP answer read; larger outputs fail with States.DataLimitExceeded anyway.
const MAX_HTTP_BODY: usize = 4 * 1024 * 1024;

impl BuiltinServices {
    pub fn new(store: Store, sealer: Sealer) -> BuiltinServices {
        let http = reqwest::Client::builder()
            // Each hop would need its own allowlist check; none are followed.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .dns_resolver(Arc::new(PublicOnlyResolver::default()))
            .build()
            .expect("an HTTP client with default TLS");
        BuiltinServices {
            store,
            sealer,
            http,
        }
    }

    /// An HTTP task's call with its connection's credentials, to an origin the tenant allows.
    async fn http(&self, caller: &Caller, params: &Value) -> Result<Value, Failure> {
        let call = HttpInvoke::from_task(params)?;
        let runtime = |m: String| Failure::new(names::RUNTIME, m);
        let origin = http_task::origin(&call.endpoint)
            .ok_or_else(|| runtime(format!("'{}' has no usable origin.", call.endpoint)))?;
        let (tenant, arn, o) = (
            caller.tenant_id,
            call.connection_arn.clone(),
            origin.clone(),
        );
        let (connection, allowed) = self
            .store
            .read(|c| {
                Ok((
                    connections::by_arn(c, tenant, &arn)?,
                    http_origins::allowed(c, tenant, &o)?,
                ))
            })
            .map_err(|e| runtime(e.to_string()))?;
        let connection = connection.ok_or_else(|| {
            runtime(format!(
                "The connection {} does not exist.",
                call.connection_arn
            ))
        })?;
        if !allowed {
            return Err(runtime(format!(
                "HTTP tasks of this tenant may not call {origin}; an operator allows it with `sandflow tenant http-allow TENANT {origin}`."
            )));
        }
        let secrets: Value = self
            .sealer
            .unseal(&connection.arn, &connection.sealed)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| runtime("The connection's credentials cannot be read.".into()))?;
        let request = self.http_request(&call, &secrets);
        let answer = request
            .send()
            .await
            .map_err(|e| http_task::socket_failure(dns::describe(&e)))?;
        let status = answer.status();
        let headers: Vec<(String, String)> = answer
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut answer = answer;
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| http_task::socket_failure(e.to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_HTTP_BODY {
                return Err(Failure::new(
                    names::DATA_LIMIT_EXCEEDED,
                    format!("The HTTP answer is larger than {MAX_HTTP_BODY} bytes."),
                ));
            }
        }
        let out = http_task::output(
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            &headers,
            &body,
        );
        if status.is_success() {
            Ok(out)
        } else {
            Err(http_task::status_failure(status.as_u16(), &out))
        }
    }

    /// The request: the task's method, URL, headers and body, then the connection's
    /// parameters (which win over the task's) and its authorization.
    fn http_request(&self, call: &HttpInvoke, secrets: &Value) -> reqwest::RequestBuilder {
        let pairs = |key: &str| -> Vec<(String, String)> {
            secrets
                .pointer(&format!("/InvocationHttpParameters/{key}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    Some((
                        p.get("Key")?.as_str()?.to_string(),
                        p.get("Value")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        };
        let mut query = call.query.clone();
        query.extend(pairs("QueryStringParameters"));
        let url = http_task::with_query(&call.endpoint, &query);
        let method =
            reqwest::Method::from_bytes(call.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, url);
        let mut headers: Vec<(String, String)> = call.headers.clone();
        if let Some((_, Some(ty))) = &call.body {
            headers.push(("content-type".into(), ty.to_string()));
        }
        headers.extend(pairs("HeaderParameters"));
        if let (Some(user), Some(password)) = (
            secrets
                .pointer("/BasicAuthParameters/Username")
                .and_then(Value::as_str),
            secrets
                .pointer("/BasicAuthParameters/Password")
                .and_then(Value::as_str),
        ) {
            let token = STANDARD.encode(format!("{user}:{password}"));
            headers.push(("authorization".into(), format!("Basic {token}")));
        }
        if let (Some(name), Some(value)) = (
            secrets
                .pointer("/ApiKeyAuthParameters/ApiKeyName")
                .and_then(Value::as_str),
            secrets
                .pointer("/ApiKeyAuthParameters/ApiKeyValue")
                .and_then(Value::as_str),
        ) {
            headers.push((name.to_string(), value.to_string()));
        }
        // Later entries (the connection's) replace earlier ones of the same name.
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            if let (Ok(n), Ok(v)) = (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                reqwest::header::HeaderValue::from_str(&value),
            ) {
                map.insert(n, v);
            }
        }
        req = req.headers(map);
        let body_params = pairs("BodyParameters");
        match &call.body {
            Some((text, Some("application/json"))) if !body_params.is_empty() => {
                let mut body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                if let Some(m) = body.as_object_mut() {
                    for (k, v) in body_params {
                        m.insert(k, Value::String(v));
                    }
                }
                req = req.body(body.to_string());
            }
            Some((text, _)) => req = req.body(text.clone()),
            None => {}
        }
        req
    }
}

impl Services for BuiltinServices {
    fn http_invoke(&self, caller: &Caller, params: Value) -> BoxFuture<TaskOutcome> {
        let (this, caller) = (self.clone(), caller.clone());
        Box::pin(async move {
            match this.http(&caller, &params).await {
                Ok(out) => TaskOutcome::Succeeded(out),
                Err(f) => TaskOutcome::Failed(f),
            }
        })
    }

    fn call(
        &self,
        caller: &Caller,
        service: Service,
        action: &str,
        request: Value,
    ) -> BoxFuture<Result<Value, ServiceError>> {
        let (store, caller, action) = (self.store.clone(), caller.clone(), action.to_string());
        Box::pin(async move {
            let Value::Object(p) = request else {
                return Err(ServiceError {
                    status: 400,
                    shape: "SerializationException".into(),
                    code: "SerializationException".into(),
                    message: "The request must be a JSON object".into(),
                });
            };
            match service {
                Service::Sqs => sqs::call(&store, caller, QUEUE_HOST.into(), &action, p)
                    .await
                    .map_err(|e| ServiceError {
                        status: e.status.as_u16(),
                        shape: e.kind.into(),
                        code: sqs::query_code(e.kind).into(),
                        message: e.message,
                    }),
                Service::DynamoDb => {
                    dynamodb::call(&store, caller, &action, p)
                        .await
                        .map_err(|e| {
                            let shape = e.kind.rsplit('#').next().unwrap_or(e.kind).to_string();
                            ServiceError {
                                status: e.status.as_u16(),
                                code: shape.clone(),
                                shape,
                                message: e.message,
                            }
                        })
                }
            }
        })
    }
}

/// What a guest names is the tenant's own table or queue; the runtime puts the tenant id in
/// the namespace.
fn tenant_id(ns: &Namespace) -> Result<i64, BackendError> {
    ns.tenant
        .parse()
        .map_err(|_| BackendError(format!("unknown tenant {}", ns.tenant)))
}

/// The caller the SQS and DynamoDB APIs need for a guest's call (its account is in queue URLs).
fn guest_caller(store: &Store, ns: &Namespace) -> Result<Caller, BackendError> {
    let tenant_id = tenant_id(ns)?;
    let tenant = store
        .read(|c| tenants::by_id(c, tenant_id))
        .map_err(|e| BackendError(e.to_string()))?
        .ok_or_else(|| BackendError(format!("unknown tenant {tenant_id}")))?;
    Ok(Caller {
        tenant_id,
        account: tenant.account_id,
        region: GUEST_REGION.into(),
    })
}

/// The region in ARNs and URLs made for guests.
const GUEST_REGION: &str = "us-east-1";

/// A guest's KV table is the DynamoDB table of that name, keyed by one string attribute; a
/// value is the item's `value` attribute (S, or B when it is not UTF-8). The first write to a
/// table that does not exist creates it with the key attribute `key`.
const VALUE_ATTRIBUTE: &str = "value";
const KEY_ATTRIBUTE: &str = "key";

fn backend(e: impl std::fmt::Display) -> BackendError {
    BackendError(e.to_string())
}

impl BuiltinServices {
    /// The table `ns.name` and the encoded key `key` in it, if the table exists.
    fn kv_key(
        &self,
        ns: &Namespace,
        key: &str,
    ) -> Result<Option<(tables::Table, tables::Key)>, BackendError> {
        let (tenant, name) = (tenant_id(ns)?, ns.name.clone());
        let Some(t) = self
            .store
            .read(|c| tables::get(c, tenant, &name))
            .map_err(backend)?
        else {
            return Ok(None);
        };
        if t.pk.1 != "S" || t.sk.is_some() {
            return Err(BackendError(format!(
                "table {} is not keyed by one string attribute, so the kv capability cannot use it",
                t.name
            )));
        }
        Ok(Some((t, (key.as_bytes().to_vec(), Vec::new()))))
    }

    async fn create_kv_table(&self, ns: &Namespace) -> Result<(), BackendError> {
        let caller = guest_caller(&self.store, ns)?;
        let request = json!({
            "TableName": ns.name,
            "KeySchema": [{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        });
        let Value::Object(p) = request else {
            unreachable!("a JSON object literal")
        };
        match dynamodb::call(&self.store, caller, "CreateTable", p).await {
            Ok(_) => Ok(()),
            // Created meanwhile by another writer.
            Err(e) if e.kind.ends_with("ResourceInUseException") => Ok(()),
            Err(e) => Err(BackendError(e.message)),
        }
    }

    async fn sqs(
        &self,
        caller: &Caller,
        action: &str,
        request: Value,
    ) -> Result<Value, BackendError> {
        let Value::Object(p) = request else {
            unreachable!("requests are JSON objects")
        };
        sqs::call(&self.store, caller.clone(), QUEUE_HOST.into(), action, p)
            .await
            .map_err(|e| BackendError(e.message))
    }

    /// The URL of the guest's queue `ns.name` (created first when `create`), if it exists.
    async fn queue_url(
        &self,
        caller: &Caller,
        ns: &Namespace,
        create: bool,
    ) -> Result<Option<String>, BackendError> {
        let url = format!("http://{QUEUE_HOST}/{}/{}", caller.account, ns.name);
        let found = {
            let name = ns.name.clone();
            self.store
                .read(|c| queues::get(c, caller.tenant_id, &name))
                .map_err(backend)?
                .is_some()
        };
        if !found {
            if !create {
                return Ok(None);
            }
            self.sqs(caller, "CreateQueue", json!({"QueueName": ns.name}))
                .await?;
        }
        Ok(Some(url))
    }
}

fn item_value(item: &str) -> Result<Vec<u8>, BackendError> {
    let item: Value = serde_json::from_str(item).map_err(backend)?;
    match item.get(VALUE_ATTRIBUTE) {
        Some(v) if v.get("S").is_some() => Ok(v["S"].as_str().unwrap_or_default().into()),
        Some(v) if v.get("B").is_some() => STANDARD
            .decode(v["B"].as_str().unwrap_or_default())
            .map_err(backend),
        // An item written by other means: the guest sees all of it.
        _ => Ok(item.to_string().into_bytes()),
    }
}

impl KvStore for BuiltinServices {
    fn get<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> KvFuture<'a, Result<Option<Vec<u8>>, BackendError>> {
        Box::pin(async move {
            let Some((t, k)) = self.kv_key(ns, key)? else {
                return Ok(None);
            };
            let item = self
                .store
                .read(|c| tables::get_item(c, t.id, &k))
                .map_err(backend)?;
            item.as_deref().map(item_value).transpose()
        })
    }

    fn set<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
        value: Vec<u8>,
    ) -> KvFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let found = match self.kv_key(ns, key)? {
                Some(found) => found,
                None => {
                    self.create_kv_table(ns).await?;
                    self.kv_key(ns, key)?
                        .ok_or_else(|| BackendError(format!("table {} vanished", ns.name)))?
                }
            };
            let (t, k) = found;
            let stored = match String::from_utf8(value) {
                Ok(text) => json!({"S": text}),
                Err(e) => json!({"B": STANDARD.encode(e.into_bytes())}),
            };
            let item = json!({ t.pk.0.clone(): {"S": key}, VALUE_ATTRIBUTE: stored }).to_string();
            if item.len() > tables::MAX_ITEM_BYTES {
                return Err(BackendError(format!(
                    "the item would be {} bytes; DynamoDB's limit is {}",
                    item.len(),
                    tables::MAX_ITEM_BYTES
                )));
            }
            store_write(&self.store, move |c| tables::put_item(c, t.id, &k, &item))
                .await
                .map_err(|e| BackendError(e.message))
        })
    }

    fn delete<'a>(
        &'a self,
        ns: &'a Namespace,
        key: &'a str,
    ) -> KvFuture<'a, Result<bool, BackendError>> {
        Box::pin(async move {
            let Some((t, k)) = self.kv_key(ns, key)? else {
                return Ok(false);
            };
            store_write(&self.store, move |c| tables::delete_item(c, t.id, &k))
                .await
                .map_err(|e| BackendError(e.message))
        })
    }

    fn list<'a>(
        &'a self,
        ns: &'a Namespace,
        prefix: &'a str,
        limit: usize,
    ) -> KvFuture<'a, Result<Vec<String>, BackendError>> {
        Box::pin(async move {
            let Some((t, _)) = self.kv_key(ns, "")? else {
                return Ok(Vec::new());
            };
            let keys = self
                .store
                .read(|c| tables::keys_with_prefix(c, t.id, prefix.as_bytes(), limit))
                .map_err(backend)?;
            Ok(keys
                .into_iter()
                .map(|k| String::from_utf8_lossy(&k).into_owned())
                .collect())
        })
    }
}

/// A guest's queue is the SQS queue of that name; the first send to a queue that does not
/// exist creates a standard queue. A receive takes the messages: they are deleted as they are
/// handed over.
impl QueueStore for BuiltinServices {
    fn send<'a>(
        &'a self,
        ns: &'a Namespace,
        body: String,
    ) -> KvFuture<'a, Result<u64, BackendError>> {
        Box::pin(async move {
            let caller = guest_caller(&self.store, ns)?;
            let url = self.queue_url(&caller, ns, true).await?.expect("created");
            let sent = self
                .sqs(
                    &caller,
                    "SendMessage",
                    json!({"QueueUrl": url, "MessageBody": body}),
                )
                .await?;
            Ok(sent["SequenceNumber"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| message_number(&sent["MessageId"])))
        })
    }

    fn receive<'a>(
        &'a self,
        ns: &'a Namespace,
        max: usize,
    ) -> KvFuture<'a, Result<Vec<QueueMessage>, BackendError>> {
        Box::pin(async move {
            let caller = guest_caller(&self.store, ns)?;
            let Some(url) = self.queue_url(&caller, ns, false).await? else {
                return Ok(Vec::new());
            };
            let got = self
                .sqs(
                    &caller,
                    "ReceiveMessage",
                    json!({"QueueUrl": url, "MaxNumberOfMessages": max.clamp(1, 10)}),
                )
                .await?;
            let mut out = Vec::new();
            for m in got["Messages"].as_array().into_iter().flatten() {
                let receipt = m["ReceiptHandle"].clone();
                self.sqs(
                    &caller,
                    "DeleteMessage",
                    json!({"QueueUrl": url, "ReceiptHandle": receipt}),
                )
                .await?;
                out.push(QueueMessage {
                    id: message_number(&m["MessageId"]),
                    body: m["Body"].as_str().unwrap_or_default().to_string(),
                });
            }
            Ok(out)
        })
    }
}

/// A number for a message id (the guest ABI's ids are u64): its first 16 hex digits.
fn message_number(id: &Value) -> u64 {
    let hex: String = id
        .as_str()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect();
    u64::from_str_radix(&hex, 16).unwrap_or(0)
}
