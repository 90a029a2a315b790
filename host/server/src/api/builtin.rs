//! The built-in SQS and DynamoDB as Task states and guests reach them: the engine's service
//! integrations call the same code the API serves, and the guests' `kv` and `queue`
//! capabilities are the same tables and queues, so a workflow, a guest and a boto3 client all
//! see one set of queues and tables.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sandflow_core::services::{Service, ServiceError};
use sandflow_engine::tasks::BoxFuture;
use sandflow_engine::{Caller, Services};
use sandflow_runtime::services::{
    BackendError, BoxFuture as KvFuture, KvStore, Namespace, QueueMessage, QueueStore,
};
use sandflow_store::{Store, queues, tables, tenants};
use serde_json::{Value, json};

use super::{dynamodb, sqs, store_write};

/// Queue URLs a workflow is given (GetQueueUrl, CreateQueue) name this host; any host works
/// when they are used, since only the account and name count.
const QUEUE_HOST: &str = "localhost";

#[derive(Clone)]
pub struct BuiltinServices {
    pub store: Store,
}

impl Services for BuiltinServices {
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
fn guest_caller(store: &Store, ns: &Namespace) -> Result<Caller, BackendError> {
    let tenant_id: i64 = ns
        .tenant
        .parse()
        .map_err(|_| BackendError(format!("unknown tenant {}", ns.tenant)))?;
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
        let caller = guest_caller(&self.store, ns)?;
        let name = ns.name.clone();
        let Some(t) = self
            .store
            .read(|c| tables::get(c, caller.tenant_id, &name))
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
        ns: &Namespace,
        action: &str,
        request: Value,
    ) -> Result<Value, BackendError> {
        let caller = guest_caller(&self.store, ns)?;
        let Value::Object(p) = request else {
            unreachable!("requests are JSON objects")
        };
        sqs::call(&self.store, caller, QUEUE_HOST.into(), action, p)
            .await
            .map_err(|e| BackendError(e.message))
    }

    async fn queue_url(
        &self,
        ns: &Namespace,
        create: bool,
    ) -> Result<Option<String>, BackendError> {
        let caller = guest_caller(&self.store, ns)?;
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
            self.sqs(ns, "CreateQueue", json!({"QueueName": ns.name}))
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
            let url = self.queue_url(ns, true).await?.expect("created");
            let sent = self
                .sqs(
                    ns,
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
            let Some(url) = self.queue_url(ns, false).await? else {
                return Ok(Vec::new());
            };
            let got = self
                .sqs(
                    ns,
                    "ReceiveMessage",
                    json!({"QueueUrl": url, "MaxNumberOfMessages": max.clamp(1, 10)}),
                )
                .await?;
            let mut out = Vec::new();
            for m in got["Messages"].as_array().into_iter().flatten() {
                let receipt = m["ReceiptHandle"].clone();
                self.sqs(
                    ns,
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
