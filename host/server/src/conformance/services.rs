//! The built-in SQS, DynamoDB and SNS for cases that call them: a fresh store per case,
//! holding the resources the recording had (the tables its input names, keyed as its `Key`
//! is; a queue for the `<sqs_queue_url>` placeholder; the topics its `TopicArn`s name, unless
//! the recording shows they did not exist), reached through the engine's integration code as
//! a server's Task states reach it.

use std::sync::Arc;

use sandflow_core::lambda::InvokeMeta;
use sandflow_core::run::TaskOutcome;
use sandflow_core::services::Integration;
use sandflow_engine::{Caller, Services};
use sandflow_store::{Store, tenants};
use serde_json::{Map, Value, json};

use crate::api::builtin::BuiltinServices;
use crate::api::{dynamodb, sqs};
use crate::tenancy::Sealer;

/// The queue URL placeholder of the recordings.
const QUEUE_URL: &str = "<sqs_queue_url>";
const QUEUE_NAME: &str = "conformance-queue";

pub struct Fixture {
    runtime: tokio::runtime::Runtime,
    store: Store,
    services: Arc<dyn Services>,
    caller: Caller,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("caller", &self.caller)
            .finish()
    }
}

impl Fixture {
    /// The services with the resources `input` refers to; `input` gets the real queue URL.
    /// `topics`: create the caller's topics that `input` names.
    pub fn new(
        input: &mut Value,
        account: &str,
        region: &str,
        topics: bool,
    ) -> Result<Fixture, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let store = Store::open(&dir.path().join("sandflow.db")).map_err(|e| e.to_string())?;
        let owned = account.to_string();
        let tenant = store
            .write(move |c| tenants::create(c, "conformance", &owned, 0))
            .map_err(|e| e.to_string())?;
        let caller = Caller {
            tenant_id: tenant.id,
            account: account.into(),
            region: region.into(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let fixture = Fixture {
            runtime,
            store: store.clone(),
            services: Arc::new(BuiltinServices::new(
                store.clone(),
                Sealer::open(dir.path()).map_err(|e| e.to_string())?,
            )),
            caller,
            _dir: dir,
        };
        let tables = strings_named(input, "TableName");
        if topics {
            let tenant = fixture.caller.tenant_id;
            let prefix = format!(":{account}:");
            let names: Vec<String> = strings_named(input, "TopicArn")
                .into_iter()
                .filter(|arn| arn.starts_with("arn:") && arn.contains(&prefix))
                .filter_map(|arn| arn.rsplit(':').next().map(str::to_string))
                .collect();
            store
                .write(move |c| {
                    for name in &names {
                        sandflow_store::topics::create_topic(
                            c,
                            tenant,
                            name,
                            &Default::default(),
                            0,
                        )?;
                    }
                    Ok(())
                })
                .map_err(|e| e.to_string())?;
        }
        let key = input.get("Key").and_then(Value::as_object).cloned();
        let url = format!("http://localhost/{account}/{QUEUE_NAME}");
        let needs_queue = replace_string(input, QUEUE_URL, &url);
        fixture.runtime.block_on(async {
            for name in tables {
                let key = key.clone().unwrap_or_default();
                create_table(&store, &fixture.caller, &name, &key).await?;
            }
            if needs_queue {
                let p = object(json!({"QueueName": QUEUE_NAME}));
                sqs::call(
                    &store,
                    fixture.caller.clone(),
                    "localhost".into(),
                    "CreateQueue",
                    p,
                )
                .await
                .map_err(|e| e.message)?;
            }
            Ok::<(), String>(())
        })?;
        Ok(fixture)
    }

    pub fn call(&self, integration: Integration, params: &Value, meta: InvokeMeta) -> TaskOutcome {
        let answer = sandflow_engine::services::call(
            &self.services,
            &self.caller,
            integration,
            params,
            meta,
        );
        self.runtime.block_on(answer)
    }

    /// An `sns:publish` task, as the engine runs it.
    pub fn publish(
        &self,
        params: &Value,
        meta: InvokeMeta,
        message_id: &str,
        now_ms: i64,
    ) -> TaskOutcome {
        let (caller, params, id) = (self.caller.clone(), params.clone(), message_id.to_string());
        self.store
            .write(move |c| {
                sandflow_engine::topics::publish_in(c, &caller, &params, &meta, &id, now_ms)
            })
            .unwrap_or_else(|e| {
                TaskOutcome::Failed(sandflow_core::Failure::new(
                    "SNS.InternalErrorException",
                    e.to_string(),
                ))
            })
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A table keyed by the attributes of the case's `Key` (the first is the partition key).
async fn create_table(
    store: &Store,
    caller: &Caller,
    name: &str,
    key: &Map<String, Value>,
) -> Result<(), String> {
    let mut schema = Vec::new();
    let mut definitions = Vec::new();
    for (i, (attr, value)) in key.iter().take(2).enumerate() {
        let ty = value
            .as_object()
            .and_then(|m| m.keys().next())
            .cloned()
            .unwrap_or_else(|| "S".into());
        schema
            .push(json!({"AttributeName": attr, "KeyType": if i == 0 { "HASH" } else { "RANGE" }}));
        definitions.push(json!({"AttributeName": attr, "AttributeType": ty}));
    }
    if schema.is_empty() {
        schema.push(json!({"AttributeName": "id", "KeyType": "HASH"}));
        definitions.push(json!({"AttributeName": "id", "AttributeType": "S"}));
    }
    let p = object(json!({
        "TableName": name,
        "KeySchema": schema,
        "AttributeDefinitions": definitions,
        "BillingMode": "PAY_PER_REQUEST",
    }));
    dynamodb::call(store, caller.clone(), "CreateTable", p)
        .await
        .map(drop)
        .map_err(|e| e.message)
}

/// Every string member `key` in `v`, at any depth.
fn strings_named(v: &Value, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(name)) = m.get(key)
                    && !out.contains(name)
                {
                    out.push(name.clone());
                }
                stack.extend(m.values());
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    out
}

/// Replaces every string equal to `from`; true if there was one.
fn replace_string(v: &mut Value, from: &str, to: &str) -> bool {
    match v {
        Value::String(s) if s == from => {
            *s = to.to_string();
            true
        }
        Value::Object(m) => m
            .values_mut()
            .fold(false, |found, v| replace_string(v, from, to) | found),
        Value::Array(a) => a
            .iter_mut()
            .fold(false, |found, v| replace_string(v, from, to) | found),
        _ => false,
    }
}
