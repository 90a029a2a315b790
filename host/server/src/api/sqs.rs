//! SQS over AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Action>`) on the built-in queues of
//! `sandflow_store::queues`: request validation with SQS's error names (plus the
//! `x-amzn-query-error` header that maps them to the legacy query codes boto3 reports), queue
//! URLs and ARNs in the caller's account, MD5s, and ReceiveMessage's long poll.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use sandflow_engine::Caller;
use sandflow_store::queues::{self, NewMessage, Queue, Received, Visibility};
use serde_json::{Map, Value, json};

use sandflow_store::Store;

use super::errors::AMZ_JSON;
use super::{AppState, store_read, store_write};

pub const TARGET_PREFIX: &str = "AmazonSQS.";

/// Wakes long polls when a message may have become receivable.
static ARRIVALS: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);

/// An SQS error: the model's shape name and the legacy query code boto3 reports.
#[derive(Debug, Clone, PartialEq)]
pub struct SqsError {
    pub kind: &'static str,
    pub message: String,
    pub status: StatusCode,
}

type Res<T> = Result<T, SqsError>;

fn fail<T>(kind: &'static str, message: impl Into<String>) -> Res<T> {
    Err(SqsError {
        kind,
        message: message.into(),
        status: StatusCode::BAD_REQUEST,
    })
}

/// The `x-amzn-query-error` code of each error (SQS's query-protocol names).
pub fn query_code(kind: &str) -> &str {
    match kind {
        "QueueDoesNotExist" => "AWS.SimpleQueueService.NonExistentQueue",
        "QueueNameExists" => "QueueAlreadyExists",
        "MessageNotInflight" => "AWS.SimpleQueueService.MessageNotInflight",
        "TooManyEntriesInBatchRequest" => "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "EmptyBatchRequest" => "AWS.SimpleQueueService.EmptyBatchRequest",
        "BatchEntryIdsNotDistinct" => "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        "InvalidBatchEntryId" => "AWS.SimpleQueueService.InvalidBatchEntryId",
        "BatchRequestTooLong" => "AWS.SimpleQueueService.BatchRequestTooLong",
        "UnsupportedOperation" => "AWS.SimpleQueueService.UnsupportedOperation",
        "InvalidParameterValueException" => "InvalidParameterValue",
        "MissingRequiredParameterException" => "MissingParameter",
        other => other,
    }
}

impl IntoResponse for SqsError {
    fn into_response(self) -> Response {
        let body = json!({
            "__type": format!("com.amazonaws.sqs#{}", self.kind),
            "message": self.message,
        });
        let mut r = (self.status, body.to_string()).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
        if let Ok(v) = HeaderValue::from_str(&format!("{};Sender", query_code(self.kind))) {
            h.insert("x-amzn-query-error", v);
        }
        r
    }
}

fn internal(e: impl std::fmt::Display) -> SqsError {
    tracing::error!(error = %e, "internal error");
    SqsError {
        kind: "InternalError",
        message: "The server encountered an internal error; see its log.".into(),
        status: StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn invalid_param(name: &str, value: impl std::fmt::Display, reason: &str) -> SqsError {
    SqsError {
        kind: "InvalidParameterValueException",
        message: format!("Value {value} for parameter {name} is invalid. Reason: {reason}"),
        status: StatusCode::BAD_REQUEST,
    }
}

fn no_queue<T>() -> Res<T> {
    fail("QueueDoesNotExist", "The specified queue does not exist.")
}

/// One request: the caller, the Host it addressed, its members.
struct Req {
    caller: Caller,
    host: String,
    p: Map<String, Value>,
}

impl Req {
    fn str(&self, name: &str) -> Res<Option<String>> {
        match self.p.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => serialization(name, "string"),
        }
    }

    fn req_str(&self, name: &str) -> Res<String> {
        self.str(name)?.ok_or_else(|| SqsError {
            kind: "MissingRequiredParameterException",
            message: format!("The request must contain the parameter {name}."),
            status: StatusCode::BAD_REQUEST,
        })
    }

    fn int(&self, name: &str) -> Res<Option<i64>> {
        int_member(&self.p, name)
    }

    fn strings(&self, name: &str) -> Res<Vec<String>> {
        match self.p.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => serialization(name, "list of strings"),
                })
                .collect(),
            Some(_) => serialization(name, "list"),
        }
    }

    fn string_map(&self, name: &str) -> Res<BTreeMap<String, String>> {
        match self.p.get(name) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => serialization(name, "map of strings"),
                })
                .collect(),
            Some(_) => serialization(name, "map"),
        }
    }

    fn url(&self, name: &str) -> String {
        format!("http://{}/{}/{name}", self.host, self.caller.account)
    }

    fn arn(&self, name: &str) -> String {
        format!(
            "arn:aws:sqs:{}:{}:{name}",
            self.caller.region, self.caller.account
        )
    }

    /// The queue name of `QueueUrl`, which must be in the caller's account.
    fn queue_name(&self) -> Res<String> {
        let url = self.req_str("QueueUrl")?;
        let path = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            [_, account, name] if *account == self.caller.account => Ok(name.to_string()),
            _ => no_queue(),
        }
    }
}

fn int_member(p: &Map<String, Value>, name: &str) -> Res<Option<i64>> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid_param(name, n, "Must be an integer")),
        Some(_) => serialization(name, "integer"),
    }
}

fn serialization<T>(name: &str, want: &str) -> Res<T> {
    Err(SqsError {
        kind: "SerializationException",
        message: format!("'{name}' must be a {want}"),
        status: StatusCode::BAD_REQUEST,
    })
}

pub async fn handle(
    state: AppState,
    caller: Caller,
    action: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let result = match parse_body(body) {
        Ok(p) => call(state.store(), caller, host, action, p).await,
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

fn parse_body(body: &[u8]) -> Res<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(SqsError {
            kind: "SerializationException",
            message: "The request body must be a JSON object".into(),
            status: StatusCode::BAD_REQUEST,
        }),
    }
}

/// One SQS call: `action` with the request members `p`, for `caller`, who addressed `host`
/// (queue URLs name it).
pub async fn call(
    store: &Store,
    caller: Caller,
    host: String,
    action: &str,
    p: Map<String, Value>,
) -> Res<Value> {
    dispatch(store, &Req { caller, host, p }, action).await
}

async fn dispatch(state: &Store, r: &Req, action: &str) -> Res<Value> {
    match action {
        "CreateQueue" => create_queue(state, r).await,
        "GetQueueUrl" => get_queue_url(state, r).await,
        "ListQueues" => list_queues(state, r).await,
        "DeleteQueue" => delete_queue(state, r).await,
        "GetQueueAttributes" => get_attributes(state, r).await,
        "SetQueueAttributes" => set_attributes(state, r).await,
        "SendMessage" => send_message(state, r).await,
        "SendMessageBatch" => send_batch(state, r).await,
        "ReceiveMessage" => receive(state, r).await,
        "DeleteMessage" => delete_message(state, r).await,
        "DeleteMessageBatch" => delete_batch(state, r).await,
        "ChangeMessageVisibility" => change_visibility(state, r).await,
        "PurgeQueue" => purge(state, r).await,
        _ => fail(
            "UnsupportedOperation",
            format!("The action {action} is not valid for this endpoint."),
        ),
    }
}

async fn read<T: Send + 'static>(
    state: &Store,
    f: impl FnOnce(&sandflow_store::Connection) -> sandflow_store::Result<T> + Send + 'static,
) -> Res<T> {
    store_read(state, f).await.map_err(|e| internal(e.message))
}

async fn write<T: Send + 'static>(
    state: &Store,
    f: impl FnOnce(&sandflow_store::Connection) -> sandflow_store::Result<T> + Send + 'static,
) -> Res<T> {
    store_write(state, f).await.map_err(|e| internal(e.message))
}

async fn find(state: &Store, r: &Req) -> Res<Queue> {
    let name = r.queue_name()?;
    let tenant = r.caller.tenant_id;
    match read(state, move |c| queues::get(c, tenant, &name)).await? {
        Some(q) => Ok(q),
        None => no_queue(),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn check_queue_name(name: &str, fifo: bool) -> Res<()> {
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    let ok = !base.is_empty()
        && name.len() <= 80
        && base
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && (fifo == name.ends_with(".fifo"));
    if ok {
        Ok(())
    } else if fifo {
        fail(
            "InvalidParameterValueException",
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.",
        )
    } else {
        fail(
            "InvalidParameterValueException",
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        )
    }
}

fn ranges(name: &str) -> Option<(i64, i64)> {
    Some(match name {
        "VisibilityTimeout" => (0, 43_200),
        "DelaySeconds" => (0, 900),
        "MessageRetentionPeriod" => (60, 1_209_600),
        "ReceiveMessageWaitTimeSeconds" => (0, 20),
        "MaximumMessageSize" => (1024, 1_048_576),
        "KmsDataKeyReusePeriodSeconds" => (60, 86_400),
        _ => return None,
    })
}

/// Attributes stored as given (validated only for shape).
const OPAQUE: &[&str] = &[
    "Policy",
    "KmsMasterKeyId",
    "SqsManagedSseEnabled",
    "RedriveAllowPolicy",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

fn invalid_value<T>(name: &str) -> Res<T> {
    fail(
        "InvalidAttributeValue",
        format!("Invalid value for the parameter {name}."),
    )
}

/// Validates settable attributes; returns them normalized. `fifo`: the queue's kind.
async fn validate_attributes(
    state: &Store,
    r: &Req,
    attrs: &BTreeMap<String, String>,
    fifo: bool,
    creating: bool,
) -> Res<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in attrs {
        if let Some((lo, hi)) = ranges(k) {
            match v.parse::<i64>() {
                Ok(n) if (lo..=hi).contains(&n) => {
                    out.insert(k.clone(), n.to_string());
                }
                _ => return invalid_value(k),
            }
        } else if k == "FifoQueue" {
            if v != "true" && v != "false" {
                return invalid_value(k);
            }
            if !creating {
                return invalid_value(k);
            }
            if v == "true" {
                out.insert(k.clone(), v.clone());
            }
        } else if k == "ContentBasedDeduplication" {
            if (v != "true" && v != "false") || !fifo {
                return invalid_value(k);
            }
            out.insert(k.clone(), v.clone());
        } else if k == "RedrivePolicy" {
            if v.is_empty() {
                out.insert(k.clone(), String::new());
                continue;
            }
            let policy: Value = serde_json::from_str(v)
                .map_err(|_| invalid_param(k, v, "Redrive policy is not a valid JSON map."))?;
            let arn = policy
                .get("deadLetterTargetArn")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid_param(
                        k,
                        v,
                        "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.",
                    )
                })?;
            let max = match policy.get("maxReceiveCount") {
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => s.parse().ok(),
                _ => None,
            }
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                invalid_param(
                    k,
                    v,
                    "Invalid value for maxReceiveCount: must be an integer from 1 to 1000.",
                )
            })?;
            let parts: Vec<&str> = arn.split(':').collect();
            let target = match parts.as_slice() {
                ["arn", "aws", "sqs", _, account, name] if *account == r.caller.account => {
                    Some(name.to_string())
                }
                _ => None,
            };
            let tenant = r.caller.tenant_id;
            let exists = match target.clone() {
                Some(n) => read(state, move |c| queues::get(c, tenant, &n)).await?,
                None => None,
            };
            match exists {
                Some(dlq) if dlq.is_fifo() == fifo => {}
                Some(_) => {
                    return Err(invalid_param(
                        k,
                        v,
                        "Dead-letter queue must be same type of queue as the source.",
                    ));
                }
                None => {
                    return Err(invalid_param(k, v, "Dead letter target does not exist."));
                }
            }
            out.insert(
                k.clone(),
                json!({"deadLetterTargetArn": arn, "maxReceiveCount": max}).to_string(),
            );
        } else if OPAQUE.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        } else {
            return fail("InvalidAttributeName", format!("Unknown Attribute {k}."));
        }
    }
    Ok(out)
}

async fn create_queue(state: &Store, r: &Req) -> Res<Value> {
    let name = r.req_str("QueueName")?;
    let attrs = r.string_map("Attributes")?;
    let fifo = attrs.get("FifoQueue").is_some_and(|v| v == "true");
    check_queue_name(&name, fifo)?;
    let mut attrs = validate_attributes(state, r, &attrs, fifo, true).await?;
    attrs.retain(|_, v| !v.is_empty());
    let tenant = r.caller.tenant_id;
    let n = name.clone();
    let created = write(state, move |c| {
        match queues::create(c, tenant, &n, &attrs, now_ms()) {
            Ok(_) => Ok(true),
            Err(sandflow_store::Error::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    })
    .await?;
    if !created {
        return fail(
            "QueueNameExists",
            "A queue already exists with the same name and a different value for attribute(s)",
        );
    }
    Ok(json!({ "QueueUrl": r.url(&name) }))
}

async fn get_queue_url(state: &Store, r: &Req) -> Res<Value> {
    let name = r.req_str("QueueName")?;
    if let Some(owner) = r.str("QueueOwnerAWSAccountId")?
        && owner != r.caller.account
    {
        return no_queue();
    }
    let tenant = r.caller.tenant_id;
    let n = name.clone();
    match read(state, move |c| queues::get(c, tenant, &n)).await? {
        Some(_) => Ok(json!({ "QueueUrl": r.url(&name) })),
        None => no_queue(),
    }
}

async fn list_queues(state: &Store, r: &Req) -> Res<Value> {
    let prefix = r.str("QueueNamePrefix")?.unwrap_or_default();
    let max = r.int("MaxResults")?;
    if let Some(m) = max
        && !(1..=1000).contains(&m)
    {
        return Err(invalid_param(
            "MaxResults",
            m,
            "Must be between 1 and 1000, if provided.",
        ));
    }
    let after = match r.str("NextToken")? {
        Some(t) => STANDARD
            .decode(&t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| invalid_param("NextToken", &t, "Invalid NextToken value."))?,
        None => String::new(),
    };
    let limit = max.unwrap_or(1000) as usize;
    let tenant = r.caller.tenant_id;
    let names = read(state, move |c| {
        queues::list(c, tenant, &prefix, &after, limit + 1)
    })
    .await?;
    let mut out = Map::new();
    let more = names.len() > limit;
    let page = &names[..names.len().min(limit)];
    if !page.is_empty() {
        out.insert(
            "QueueUrls".into(),
            page.iter().map(|n| Value::String(r.url(n))).collect(),
        );
    }
    if more && max.is_some() {
        out.insert(
            "NextToken".into(),
            Value::String(STANDARD.encode(page.last().expect("a full page"))),
        );
    }
    Ok(Value::Object(out))
}

async fn delete_queue(state: &Store, r: &Req) -> Res<Value> {
    let name = r.queue_name()?;
    let tenant = r.caller.tenant_id;
    if write(state, move |c| queues::delete(c, tenant, &name)).await? {
        Ok(json!({}))
    } else {
        no_queue()
    }
}

const READ_ONLY_ATTRS: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

async fn get_attributes(state: &Store, r: &Req) -> Res<Value> {
    let q = find(state, r).await?;
    let names = r.strings("AttributeNames")?;
    let all = names.iter().any(|n| n == "All");
    for n in &names {
        if n != "All"
            && !READ_ONLY_ATTRS.contains(&n.as_str())
            && ranges(n).is_none()
            && !OPAQUE.contains(&n.as_str())
            && !["FifoQueue", "ContentBasedDeduplication", "RedrivePolicy"].contains(&n.as_str())
        {
            return fail("InvalidAttributeName", format!("Unknown Attribute {n}."));
        }
    }
    let id = q.id;
    let (visible, in_flight, delayed) =
        read(state, move |c| queues::counts(c, id, now_ms())).await?;
    let mut attrs: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in queues::DEFAULTS {
        attrs.insert(k.to_string(), v.to_string());
    }
    attrs.extend(q.attributes.clone());
    if q.is_fifo() {
        attrs
            .entry("ContentBasedDeduplication".into())
            .or_insert("false".into());
        attrs
            .entry("DeduplicationScope".into())
            .or_insert("queue".into());
        attrs
            .entry("FifoThroughputLimit".into())
            .or_insert("perQueue".into());
    }
    attrs
        .entry("SqsManagedSseEnabled".into())
        .or_insert("true".into());
    attrs.insert("ApproximateNumberOfMessages".into(), visible.to_string());
    attrs.insert(
        "ApproximateNumberOfMessagesNotVisible".into(),
        in_flight.to_string(),
    );
    attrs.insert(
        "ApproximateNumberOfMessagesDelayed".into(),
        delayed.to_string(),
    );
    attrs.insert("CreatedTimestamp".into(), (q.created_ms / 1000).to_string());
    attrs.insert(
        "LastModifiedTimestamp".into(),
        (q.updated_ms / 1000).to_string(),
    );
    attrs.insert("QueueArn".into(), r.arn(&q.name));
    let chosen: Map<String, Value> = attrs
        .into_iter()
        .filter(|(k, _)| all || names.contains(k))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    if chosen.is_empty() {
        return Ok(json!({}));
    }
    Ok(json!({ "Attributes": chosen }))
}

async fn set_attributes(state: &Store, r: &Req) -> Res<Value> {
    let q = find(state, r).await?;
    let attrs = r.string_map("Attributes")?;
    let attrs = validate_attributes(state, r, &attrs, q.is_fifo(), false).await?;
    let (tenant, name) = (q.tenant_id, q.name.clone());
    if write(state, move |c| {
        queues::set_attributes(c, tenant, &name, &attrs, now_ms())
    })
    .await?
    {
        Ok(json!({}))
    } else {
        no_queue()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}

/// MD5 of message attributes as SQS computes it: names sorted; each name, data type and value
/// length-prefixed (4-byte big-endian), the value after a transport byte (1 string, 2 binary).
pub fn md5_of_attributes(attrs: &Map<String, Value>) -> String {
    let mut buf = Vec::new();
    let mut names: Vec<&String> = attrs.keys().collect();
    names.sort();
    let put = |buf: &mut Vec<u8>, b: &[u8]| {
        buf.extend_from_slice(&(b.len() as u32).to_be_bytes());
        buf.extend_from_slice(b);
    };
    for n in names {
        let a = &attrs[n];
        let ty = a.get("DataType").and_then(Value::as_str).unwrap_or("");
        put(&mut buf, n.as_bytes());
        put(&mut buf, ty.as_bytes());
        if let Some(s) = a.get("StringValue").and_then(Value::as_str) {
            buf.push(1);
            put(&mut buf, s.as_bytes());
        } else if let Some(b) = a.get("BinaryValue").and_then(Value::as_str) {
            buf.push(2);
            put(&mut buf, &STANDARD.decode(b).unwrap_or_default());
        }
    }
    md5_hex(&buf)
}

/// Checks message attributes; returns them (only the members SQS keeps) and their size.
fn check_message_attributes(v: Option<&Value>) -> Res<(Map<String, Value>, usize)> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok((Map::new(), 0));
    };
    let Value::Object(m) = v else {
        return serialization("MessageAttributes", "map");
    };
    if m.len() > 10 {
        return fail(
            "InvalidParameterValueException",
            format!(
                "Number of message attributes [{}] exceeds the allowed maximum [10].",
                m.len()
            ),
        );
    }
    let mut out = Map::new();
    let mut size = 0;
    for (name, a) in m {
        let bad_name = name.is_empty()
            || name.len() > 256
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
            || name.starts_with('.')
            || name.ends_with('.')
            || name.contains("..")
            || name.to_ascii_lowercase().starts_with("aws.")
            || name.to_ascii_lowercase().starts_with("amazon.");
        if bad_name {
            return fail(
                "InvalidParameterValueException",
                format!("Message attribute name '{name}' is invalid."),
            );
        }
        let Value::Object(a) = a else {
            return serialization("MessageAttributeValue", "structure");
        };
        let ty = a.get("DataType").and_then(Value::as_str).unwrap_or("");
        let base = ty.split('.').next().unwrap_or("");
        let string = a.get("StringValue").and_then(Value::as_str);
        let binary = a.get("BinaryValue").and_then(Value::as_str);
        let mut kept = Map::new();
        kept.insert("DataType".into(), Value::String(ty.into()));
        match (base, string, binary) {
            ("String", Some(s), None) => {
                kept.insert("StringValue".into(), Value::String(s.into()));
                size += s.len();
            }
            ("Number", Some(s), None) => {
                if sandflow_store::tables::parse_decimal(s).is_none() {
                    return fail(
                        "InvalidParameterValueException",
                        format!(
                            "Can't cast the value of message (user) attribute '{name}' to a number."
                        ),
                    );
                }
                kept.insert("StringValue".into(), Value::String(s.into()));
                size += s.len();
            }
            ("Binary", None, Some(b)) => {
                let bytes = STANDARD.decode(b).map_err(|_| SqsError {
                    kind: "SerializationException",
                    message: format!("BinaryValue of '{name}' is not base64"),
                    status: StatusCode::BAD_REQUEST,
                })?;
                kept.insert("BinaryValue".into(), Value::String(b.into()));
                size += bytes.len();
            }
            ("String" | "Number" | "Binary", _, _) => {
                return fail(
                    "InvalidParameterValueException",
                    format!(
                        "The message attribute '{name}' with type '{ty}' must use field '{}'.",
                        if base == "Binary" { "Binary" } else { "String" }
                    ),
                );
            }
            _ => {
                return fail(
                    "InvalidParameterValueException",
                    format!(
                        "The type of message (user) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
                    ),
                );
            }
        }
        size += name.len() + ty.len();
        out.insert(name.clone(), Value::Object(kept));
    }
    Ok((out, size))
}

/// SQS accepts only these characters in bodies (XML 1.0's).
fn valid_body(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
    })
}

/// Validates one message for the queue and builds what the store keeps. `entry`: the members
/// (the request itself, or a batch entry).
fn build_message(q: &Queue, entry: &Map<String, Value>) -> Res<(NewMessage, usize)> {
    let body = match entry.get("MessageBody") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => {
            return fail(
                "MissingRequiredParameterException",
                "The request must contain the parameter MessageBody.",
            );
        }
        Some(_) => return serialization("MessageBody", "string"),
    };
    if body.is_empty() {
        return fail(
            "MissingRequiredParameterException",
            "The request must contain the parameter MessageBody.",
        );
    }
    if !valid_body(&body) {
        return fail(
            "InvalidMessageContents",
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        );
    }
    let (attrs, attr_size) = check_message_attributes(entry.get("MessageAttributes"))?;
    let size = body.len() + attr_size;
    let max = q.int_attr("MaximumMessageSize") as usize;
    if size > max {
        return fail(
            "InvalidParameterValueException",
            format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
            ),
        );
    }
    let get_str = |name: &str| -> Res<Option<String>> {
        match entry.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => serialization(name, "string"),
        }
    };
    let delay = int_member(entry, "DelaySeconds")?;
    let group = get_str("MessageGroupId")?;
    let mut dedup = get_str("MessageDeduplicationId")?;
    if q.is_fifo() {
        if let Some(d) = delay {
            return Err(invalid_param(
                "DelaySeconds",
                d,
                "The request include parameter that is not valid for this queue type",
            ));
        }
        if group.is_none() {
            return fail(
                "MissingRequiredParameterException",
                "The request must contain the parameter MessageGroupId.",
            );
        }
        if dedup.is_none() {
            if !q.content_based_dedup() {
                return fail(
                    "InvalidParameterValueException",
                    "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                );
            }
            dedup = Some(hex(&sha2::Sha256::digest(body.as_bytes())));
        }
    } else if let Some(d) = &dedup {
        return Err(invalid_param(
            "MessageDeduplicationId",
            d,
            "The request include parameter that is not valid for this queue type",
        ));
    }
    for (name, v) in [
        ("MessageGroupId", &group),
        ("MessageDeduplicationId", &dedup),
    ] {
        if let Some(v) = v
            && (v.is_empty() || v.len() > 128 || !v.chars().all(|c| c.is_ascii_graphic()))
        {
            return Err(invalid_param(
                name,
                v,
                &format!(
                    "{name} can only include alphanumeric and punctuation characters. 1 to 128 in length."
                ),
            ));
        }
    }
    let delay = match delay {
        Some(d) if !(0..=900).contains(&d) => {
            return Err(invalid_param(
                "DelaySeconds",
                d,
                "Must be >= 0 and <= 900, if provided.",
            ));
        }
        Some(d) => d,
        None => q.int_attr("DelaySeconds"),
    };
    let (attributes, md5_attributes) = if attrs.is_empty() {
        (None, None)
    } else {
        (
            Some(Value::Object(attrs.clone()).to_string()),
            Some(md5_of_attributes(&attrs)),
        )
    };
    Ok((
        NewMessage {
            message_id: super::sfn::uuid(),
            md5_body: md5_hex(body.as_bytes()),
            body,
            attributes,
            md5_attributes,
            group_id: group,
            dedup_id: dedup,
            delay_s: delay,
        },
        size,
    ))
}

fn sent_json(q: &Queue, m: &NewMessage, sent: &queues::Sent) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("MD5OfMessageBody".into(), Value::String(m.md5_body.clone()));
    if let Some(md5) = &m.md5_attributes {
        out.insert("MD5OfMessageAttributes".into(), Value::String(md5.clone()));
    }
    out.insert("MessageId".into(), Value::String(sent.message_id.clone()));
    if q.is_fifo() {
        out.insert(
            "SequenceNumber".into(),
            Value::String(format!("{:020}", sent.seq)),
        );
    }
    out
}

async fn send_message(state: &Store, r: &Req) -> Res<Value> {
    let q = find(state, r).await?;
    let (m, _) = build_message(&q, &r.p)?;
    let (q2, m2) = (q.clone(), m.clone());
    let sent = write(state, move |c| queues::send(c, &q2, &m2, now_ms())).await?;
    ARRIVALS.notify_waiters();
    Ok(Value::Object(sent_json(&q, &m, &sent)))
}

/// A batch's entries: 1-10, distinct valid ids.
fn batch_entries(r: &Req) -> Res<Vec<Map<String, Value>>> {
    let entries = match r.p.get("Entries") {
        Some(Value::Array(a)) => a.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return serialization("Entries", "list"),
    };
    if entries.is_empty() {
        return fail(
            "EmptyBatchRequest",
            "There should be at least one SendMessageBatchRequestEntry in the request.",
        );
    }
    if entries.len() > 10 {
        return fail(
            "TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are 10. You have sent {}.",
                entries.len()
            ),
        );
    }
    let mut ids = std::collections::HashSet::new();
    let mut out = Vec::new();
    for e in entries {
        let Value::Object(e) = e else {
            return serialization("Entries", "list of structures");
        };
        let id = e
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if id.is_empty()
            || id.len() > 80
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return fail(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            );
        }
        if !ids.insert(id.clone()) {
            return fail("BatchEntryIdsNotDistinct", format!("Id {id} repeated."));
        }
        out.push(e);
    }
    Ok(out)
}

fn failed_entry(id: &str, e: &SqsError) -> Value {
    json!({"Id": id, "SenderFault": true, "Code": query_code(e.kind), "Message": e.message})
}

async fn send_batch(state: &Store, r: &Req) -> Res<Value> {
    let q = find(state, r).await?;
    let entries = batch_entries(r)?;
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    let mut total = 0;
    for e in &entries {
        let id = e["Id"].as_str().unwrap_or("").to_string();
        match build_message(&q, e) {
            Ok((m, size)) => {
                total += size;
                ok.push((id, m));
            }
            Err(err) => failed.push(failed_entry(&id, &err)),
        }
    }
    let max = q.int_attr("MaximumMessageSize").max(262_144) as usize;
    if total > max {
        return fail(
            "BatchRequestTooLong",
            format!(
                "Batch requests cannot be longer than {max} bytes. You have sent {total} bytes."
            ),
        );
    }
    let q2 = q.clone();
    let msgs: Vec<NewMessage> = ok.iter().map(|(_, m)| m.clone()).collect();
    let sent = write(state, move |c| {
        let now = now_ms();
        msgs.iter()
            .map(|m| queues::send(c, &q2, m, now))
            .collect::<sandflow_store::Result<Vec<_>>>()
    })
    .await?;
    ARRIVALS.notify_waiters();
    let successful: Vec<Value> = ok
        .iter()
        .zip(&sent)
        .map(|((id, m), s)| {
            let mut j = sent_json(&q, m, s);
            j.insert("Id".into(), Value::String(id.clone()));
            Value::Object(j)
        })
        .collect();
    Ok(json!({"Successful": successful, "Failed": failed}))
}

const SYSTEM_ATTRS: &[&str] = &[
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
];

fn message_json(
    m: &Received,
    caller: &Caller,
    system: &[String],
    wanted_attrs: &[String],
) -> Value {
    let mut out = Map::new();
    out.insert("MessageId".into(), Value::String(m.message_id.clone()));
    out.insert("ReceiptHandle".into(), Value::String(m.receipt.clone()));
    out.insert("MD5OfBody".into(), Value::String(m.md5_body.clone()));
    out.insert("Body".into(), Value::String(m.body.clone()));
    let all = system.iter().any(|s| s == "All");
    let mut attrs = Map::new();
    let mut add = |name: &str, v: Option<String>| {
        if let Some(v) = v
            && (all || system.iter().any(|s| s == name))
        {
            attrs.insert(name.into(), Value::String(v));
        }
    };
    add("SenderId", Some(caller.account.clone()));
    add("SentTimestamp", Some(m.sent_ms.to_string()));
    add("ApproximateReceiveCount", Some(m.receive_count.to_string()));
    add(
        "ApproximateFirstReceiveTimestamp",
        Some(m.first_receive_ms.to_string()),
    );
    if m.group_id.is_some() && m.dedup_id.is_some() {
        add("SequenceNumber", Some(format!("{:020}", m.seq)));
        add("MessageDeduplicationId", m.dedup_id.clone());
    }
    add("MessageGroupId", m.group_id.clone());
    add("DeadLetterQueueSourceArn", m.source_arn.clone());
    if !attrs.is_empty() {
        out.insert("Attributes".into(), Value::Object(attrs));
    }
    if let Some(Value::Object(stored)) = m
        .attributes
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
    {
        let chosen: Map<String, Value> = stored
            .into_iter()
            .filter(|(k, _)| {
                wanted_attrs.iter().any(|w| {
                    w == "All"
                        || w == ".*"
                        || w == k
                        || w.strip_suffix(".*")
                            .is_some_and(|p| k.starts_with(&format!("{p}.")))
                })
            })
            .collect();
        if !chosen.is_empty() {
            out.insert(
                "MD5OfMessageAttributes".into(),
                Value::String(md5_of_attributes(&chosen)),
            );
            out.insert("MessageAttributes".into(), Value::Object(chosen));
        }
    }
    Value::Object(out)
}

fn new_receipt() -> String {
    let mut b = [0u8; 32];
    crate::tenancy::random(&mut b);
    format!("AQEB{}", hex(&b))
}

fn valid_receipt(s: &str) -> bool {
    s.strip_prefix("AQEB")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn receive(state: &Store, r: &Req) -> Res<Value> {
    let q = find(state, r).await?;
    let max = r.int("MaxNumberOfMessages")?.unwrap_or(1);
    if !(1..=10).contains(&max) {
        return Err(invalid_param(
            "MaxNumberOfMessages",
            max,
            "Must be between 1 and 10, if provided.",
        ));
    }
    let visibility = r
        .int("VisibilityTimeout")?
        .unwrap_or(q.int_attr("VisibilityTimeout"));
    if !(0..=43_200).contains(&visibility) {
        return Err(invalid_param(
            "VisibilityTimeout",
            visibility,
            "Must be >= 0 and <= 43200, if provided.",
        ));
    }
    let wait = r
        .int("WaitTimeSeconds")?
        .unwrap_or(q.int_attr("ReceiveMessageWaitTimeSeconds"));
    if !(0..=20).contains(&wait) {
        return Err(invalid_param(
            "WaitTimeSeconds",
            wait,
            "Must be >= 0 and <= 20, if provided.",
        ));
    }
    let mut system = r.strings("AttributeNames")?;
    system.extend(r.strings("MessageSystemAttributeNames")?);
    for s in &system {
        if s != "All" && !SYSTEM_ATTRS.contains(&s.as_str()) {
            return fail("InvalidAttributeName", format!("Unknown Attribute {s}."));
        }
    }
    let wanted = r.strings("MessageAttributeNames")?;
    let deadline = Instant::now() + Duration::from_secs(wait as u64);
    let source_arn = r.arn(&q.name);
    loop {
        let notified = ARRIVALS.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (q2, arn) = (q.clone(), source_arn.clone());
        let got = write(state, move |c| {
            queues::receive(
                c,
                &q2,
                &arn,
                max as usize,
                visibility,
                now_ms(),
                &mut new_receipt,
            )
        })
        .await?;
        let now = Instant::now();
        if !got.is_empty() || now >= deadline {
            if got.is_empty() {
                return Ok(json!({}));
            }
            let msgs: Vec<Value> = got
                .iter()
                .map(|m| message_json(m, &r.caller, &system, &wanted))
                .collect();
            return Ok(json!({ "Messages": msgs }));
        }
        // Delays and visibility timeouts expire without a wake-up, so re-check at least
        // every 200 ms.
        let nap = (deadline - now).min(Duration::from_millis(200));
        let _ = tokio::time::timeout(nap, notified).await;
    }
}

fn invalid_receipt<T>(h: &str) -> Res<T> {
    fail(
        "ReceiptHandleIsInvalid",
        format!("The input receipt handle \"{h}\" is not a valid receipt handle."),
    )
}

async fn delete_message(state: &Store, r: &Req) -> Res<Value> {
    let q = find(state, r).await?;
    let handle = r.req_str("ReceiptHandle")?;
    if !valid_receipt(&handle) {
        return invalid_receipt(&handle);
    }
    let id = q.id;
    write(state, move |c| queues::delete_message(c, id, &handle)).await?;
    Ok(json!({}))
}

async fn delete_batch(state: &Store, r: &Req) -> Res<Value> {
    let q = find(state, r).await?;
    let entries = batch_entries(r)?;
    let mut handles = Vec::new();
    let mut failed = Vec::new();
    for e in &entries {
        let id = e["Id"].as_str().unwrap_or("").to_string();
        let h = e
            .get("ReceiptHandle")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if valid_receipt(&h) {
            handles.push((id, h));
        } else {
            let err = invalid_receipt::<()>(&h).unwrap_err();
            failed.push(failed_entry(&id, &err));
        }
    }
    let id = q.id;
    let hs: Vec<String> = handles.iter().map(|(_, h)| h.clone()).collect();
    write(state, move |c| {
        for h in &hs {
            queues::delete_message(c, id, h)?;
        }
        Ok(())
    })
    .await?;
    let ok: Vec<Value> = handles.iter().map(|(id, _)| json!({"Id": id})).collect();
    Ok(json!({"Successful": ok, "Failed": failed}))
}

async fn change_visibility(state: &Store, r: &Req) -> Res<Value> {
    let q = find(state, r).await?;
    let handle = r.req_str("ReceiptHandle")?;
    let timeout = r.int("VisibilityTimeout")?.ok_or_else(|| SqsError {
        kind: "MissingRequiredParameterException",
        message: "The request must contain the parameter VisibilityTimeout.".into(),
        status: StatusCode::BAD_REQUEST,
    })?;
    if !(0..=43_200).contains(&timeout) {
        return Err(invalid_param(
            "VisibilityTimeout",
            timeout,
            "Must be >= 0 and <= 43200, if provided.",
        ));
    }
    if !valid_receipt(&handle) {
        return invalid_receipt(&handle);
    }
    let id = q.id;
    let h = handle.clone();
    match write(state, move |c| {
        queues::change_visibility(c, id, &h, timeout, now_ms())
    })
    .await?
    {
        Visibility::Changed => {
            if timeout == 0 {
                ARRIVALS.notify_waiters();
            }
            Ok(json!({}))
        }
        Visibility::NotInFlight => fail(
            "MessageNotInflight",
            "The message referred to isn't in flight.",
        ),
        Visibility::Unknown => invalid_receipt(&handle),
    }
}

async fn purge(state: &Store, r: &Req) -> Res<Value> {
    let q = find(state, r).await?;
    let id = q.id;
    write(state, move |c| queues::purge(c, id)).await?;
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_md5_follows_the_sqs_procedure() {
        // Expected value computed independently (Python) from the procedure in the SQS
        // developer guide: sorted names, length-prefixed parts, transport byte 1 or 2.
        let attrs: Map<String, Value> = serde_json::from_value(json!({
            "kind": {"DataType": "String", "StringValue": "greeting"},
            "n": {"DataType": "Number", "StringValue": "3"},
            "bin": {"DataType": "Binary", "BinaryValue": "AAE="},
        }))
        .unwrap();
        assert_eq!(
            md5_of_attributes(&attrs),
            "f1bf6e800cdd17063aaced5e98cfca15"
        );
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn names_receipts_and_bodies() {
        assert!(check_queue_name("jobs-1_a", false).is_ok());
        assert!(check_queue_name("jobs.fifo", true).is_ok());
        assert!(check_queue_name("jobs.fifo", false).is_err());
        assert!(check_queue_name("jobs", true).is_err());
        assert!(check_queue_name("a b", false).is_err());
        assert!(check_queue_name(&"a".repeat(81), false).is_err());
        assert!(valid_receipt(&new_receipt()));
        assert!(!valid_receipt("nope"));
        assert!(valid_body("hello\n\tworld ✓"));
        assert!(!valid_body("bad\u{1}"));
        assert_eq!(
            query_code("QueueDoesNotExist"),
            "AWS.SimpleQueueService.NonExistentQueue"
        );
    }
}
