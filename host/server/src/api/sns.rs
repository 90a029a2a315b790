//! SNS over its query protocol (`POST /`, form-encoded `Action=...&Version=2010-03-31`, XML
//! answers in SNS's namespace, XML `ErrorResponse` errors with SNS's codes and statuses) on
//! the tenant's topics of `sandflow_store::topics`. Publishing stores the message and its
//! outbox rows in one write; [`super::sns_delivery`] delivers them.

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sandflow_core::http_task::origin;
use sandflow_engine::Caller;
use sandflow_engine::topics::PUBLISHED;
use sandflow_store::Store;
use sandflow_store::topics::{self, NewSubscription, Subscription, Topic, TopicMessage};
use serde_json::{Map, Value, json};

use super::sfn::uuid;
use super::{AppState, store_read, store_write};

pub const NAMESPACE: &str = "http://sns.amazonaws.com/doc/2010-03-31/";
/// ListTopics and ListSubscriptions pages (AWS: 100).
pub const PAGE: usize = 100;
/// Publish's message limit (AWS: 256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 262_144;

/// Topic attributes a client may set (the others are SNS's computed ones).
const TOPIC_ATTRIBUTES: &[&str] = &[
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "TracingConfig",
    "SignatureVersion",
    "DataProtectionPolicy",
];
/// Subscription attributes Sandflow honours.
const SUBSCRIPTION_ATTRIBUTES: &[&str] =
    &["RawMessageDelivery", "FilterPolicy", "FilterPolicyScope"];

/// Whether a request is an SNS query-protocol call: form-encoded and without `X-Amz-Target`.
pub fn is_query(headers: &HeaderMap) -> bool {
    headers.get("x-amz-target").is_none()
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Server-wide SNS settings (`sandflow serve --sns-http-allow`, `--smtp-relay`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnsOptions {
    /// Origins (`scheme://host[:port]`) http/https subscriptions may deliver to.
    pub http_allow: Vec<String>,
    /// `HOST:PORT` of the SMTP relay for email subscriptions; none keeps mail in the outbox.
    pub smtp_relay: Option<String>,
}

impl SnsOptions {
    /// Whether an http(s) subscription of `tenant_id` may deliver to `url`: its origin is
    /// allowed server-wide (`--sns-http-allow`) or for the tenant (`sandflow tenant
    /// http-allow`, the HTTP tasks' allowlist).
    pub fn allows(
        &self,
        c: &sandflow_store::Connection,
        tenant_id: i64,
        url: &str,
    ) -> sandflow_store::Result<bool> {
        let Some(o) = origin(url) else {
            return Ok(false);
        };
        if self
            .http_allow
            .iter()
            .any(|a| origin(a.trim_end_matches('/')).as_deref() == Some(o.as_str()))
        {
            return Ok(true);
        }
        sandflow_store::http_origins::allowed(c, tenant_id, &o)
    }
}

/// An SNS error: the query code (`NotFound`), message and status.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsError {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
}

type Res<T> = Result<T, SnsError>;

fn invalid(message: impl Into<String>) -> SnsError {
    SnsError {
        code: "InvalidParameter",
        message: message.into(),
        status: StatusCode::BAD_REQUEST,
    }
}

fn invalid_value(message: impl Into<String>) -> SnsError {
    SnsError {
        code: "ParameterValueInvalid",
        message: message.into(),
        status: StatusCode::BAD_REQUEST,
    }
}

fn not_found(message: &str) -> SnsError {
    SnsError {
        code: "NotFound",
        message: message.into(),
        status: StatusCode::NOT_FOUND,
    }
}

fn no_topic() -> SnsError {
    not_found("Topic does not exist")
}

fn internal(e: impl std::fmt::Display) -> SnsError {
    tracing::error!(error = %e, "internal error");
    SnsError {
        code: "InternalError",
        message: "The server encountered an internal error; see its log.".into(),
        status: StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// XML text escaping (element content and attribute values).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    r
}

/// An error as SNS answers it: `ErrorResponse` with Type, Code, Message and the request id.
pub fn error_response(code: &str, message: &str, status: StatusCode) -> Response {
    let request_id = uuid();
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{kind}</Type>\n    \
         <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
        escape(code),
        escape(message)
    );
    xml_response(status, body, &request_id)
}

impl IntoResponse for SnsError {
    fn into_response(self) -> Response {
        error_response(self.code, &self.message, self.status)
    }
}

/// The form members of one request.
pub struct Form(HashMap<String, String>);

impl Form {
    pub fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Res<&str> {
        self.get(name).ok_or_else(|| {
            invalid(format!(
                "Invalid parameter: {name} Reason: no value for required parameter"
            ))
        })
    }

    fn bool(&self, name: &str) -> Res<bool> {
        match self.get(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(invalid(format!("Invalid parameter: {name}"))),
        }
    }

    /// A query-protocol map: `NAME.entry.N.key` / `NAME.entry.N.value`.
    fn map(&self, name: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for n in 1.. {
            let Some(k) = self.get(&format!("{name}.entry.{n}.key")) else {
                break;
            };
            let v = self
                .get(&format!("{name}.entry.{n}.value"))
                .unwrap_or_default();
            out.insert(k.to_string(), v.to_string());
        }
        out
    }

    /// `MessageAttributes.entry.N.Name` / `.Value.DataType|StringValue|BinaryValue`, as the
    /// JSON SQS and Step Functions use: `{name: {DataType, StringValue | BinaryValue}}`.
    fn message_attributes(&self) -> Res<Map<String, Value>> {
        let mut out = Map::new();
        for n in 1.. {
            let prefix = format!("MessageAttributes.entry.{n}");
            let Some(name) = self.get(&format!("{prefix}.Name")) else {
                break;
            };
            let field = |f: &str| self.get(&format!("{prefix}.Value.{f}"));
            let data_type = field("DataType").unwrap_or_default();
            let base = data_type.split('.').next().unwrap_or_default();
            let mut v = Map::new();
            v.insert("DataType".into(), json!(data_type));
            match (base, field("StringValue"), field("BinaryValue")) {
                ("String" | "Number", Some(s), _) if !s.is_empty() => {
                    v.insert("StringValue".into(), json!(s));
                }
                ("Binary", _, Some(b)) if !b.is_empty() => {
                    v.insert("BinaryValue".into(), json!(b));
                }
                ("String" | "Number" | "Binary", ..) => {
                    return Err(invalid_value(format!(
                        "The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{data_type}'."
                    )));
                }
                _ => {
                    return Err(invalid_value(format!(
                        "The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
                    )));
                }
            }
            out.insert(name.to_string(), Value::Object(v));
        }
        Ok(out)
    }
}

/// Answers one HTTP request.
pub async fn handle(state: AppState, caller: Caller, body: &Bytes) -> Response {
    let form = Form::parse(body);
    let Some(action) = form.get("Action").map(str::to_string) else {
        return error_response(
            "MissingAction",
            "The request must contain the parameter Action.",
            StatusCode::BAD_REQUEST,
        );
    };
    match call(state.store(), state.sns(), &caller, &action, &form).await {
        Ok(result) => {
            let request_id = uuid();
            let result = match result {
                Some(inner) => {
                    format!("  <{action}Result>\n{inner}  </{action}Result>\n")
                }
                None => String::new(),
            };
            let body = format!(
                "<{action}Response xmlns=\"{NAMESPACE}\">\n{result}  <ResponseMetadata>\n    \
                 <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</{action}Response>\n"
            );
            xml_response(StatusCode::OK, body, &request_id)
        }
        Err(e) => e.into_response(),
    }
}

/// Runs `action`: the inner XML of its `<ActionResult>`, `None` for actions without one.
pub async fn call(
    store: &Store,
    opts: &SnsOptions,
    caller: &Caller,
    action: &str,
    form: &Form,
) -> Res<Option<String>> {
    let r = Req {
        store,
        opts,
        caller,
        form,
    };
    match action {
        "CreateTopic" => r.create_topic().await.map(Some),
        "DeleteTopic" => r.delete_topic().await.map(|()| None),
        "ListTopics" => r.list_topics().await.map(Some),
        "GetTopicAttributes" => r.get_topic_attributes().await.map(Some),
        "SetTopicAttributes" => r.set_topic_attributes().await.map(|()| None),
        "Subscribe" => r.subscribe().await.map(Some),
        "Unsubscribe" => r.unsubscribe().await.map(|()| None),
        "ListSubscriptions" => r.list_subscriptions(None).await.map(Some),
        "ListSubscriptionsByTopic" => {
            let topic = r.topic(r.form.required("TopicArn")?).await?;
            r.list_subscriptions(Some(topic)).await.map(Some)
        }
        "GetSubscriptionAttributes" => r.get_subscription_attributes().await.map(Some),
        "SetSubscriptionAttributes" => r.set_subscription_attributes().await.map(|()| None),
        "Publish" => r.publish().await.map(Some),
        _ => Err(invalid_action(action)),
    }
}

fn invalid_action(action: &str) -> SnsError {
    SnsError {
        code: "InvalidAction",
        message: format!("The action {action} is not valid for this web service."),
        status: StatusCode::BAD_REQUEST,
    }
}

struct Req<'a> {
    store: &'a Store,
    opts: &'a SnsOptions,
    caller: &'a Caller,
    form: &'a Form,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn valid_topic_name(name: &str) -> bool {
    (1..=256).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `<entry><key/><value/></entry>` members of a map.
fn entries(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| {
            format!(
                "      <entry><key>{}</key><value>{}</value></entry>\n",
                escape(k),
                escape(v)
            )
        })
        .collect()
}

fn page_token(form: &Form) -> Res<i64> {
    match form.get("NextToken") {
        None | Some("") => Ok(0),
        Some(t) => t
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid("Invalid parameter: NextToken")),
    }
}

fn next_token(ids: &[i64], full: bool) -> String {
    match ids.last() {
        Some(last) if full => format!("    <NextToken>{last}</NextToken>\n"),
        _ => String::new(),
    }
}

impl Req<'_> {
    fn topic_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:sns:{}:{}:{name}",
            self.caller.region, self.caller.account
        )
    }

    fn subscription_arn(&self, s: &Subscription) -> String {
        format!("{}:{}", self.topic_arn(&s.topic_name), s.uuid)
    }

    /// The topic name of `arn`, `None` when it is another account's.
    fn topic_name<'b>(&self, arn: &'b str) -> Res<Option<&'b str>> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", _, "sns", _, account, name] if !name.is_empty() => {
                Ok((*account == self.caller.account).then_some(*name))
            }
            _ => Err(invalid("Invalid parameter: TopicArn")),
        }
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&sandflow_store::Connection) -> sandflow_store::Result<T> + Send + 'static,
    ) -> Res<T> {
        store_read(self.store, f)
            .await
            .map_err(|e| internal(e.message))
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&sandflow_store::Connection) -> sandflow_store::Result<T> + Send + 'static,
    ) -> Res<T> {
        store_write(self.store, f)
            .await
            .map_err(|e| internal(e.message))
    }

    /// The caller's topic `arn`, or NotFound.
    async fn topic(&self, arn: &str) -> Res<Topic> {
        let Some(name) = self.topic_name(arn)? else {
            return Err(no_topic());
        };
        let (tenant, name) = (self.caller.tenant_id, name.to_string());
        self.read(move |c| topics::get_topic(c, tenant, &name))
            .await?
            .ok_or_else(no_topic)
    }

    fn topic_attributes(&self, attrs: BTreeMap<String, String>) -> Res<BTreeMap<String, String>> {
        for k in attrs.keys() {
            if k == "FifoTopic" || k == "ContentBasedDeduplication" {
                return Err(invalid(
                    "Invalid parameter: Attributes Reason: FIFO topics are not supported by Sandflow",
                ));
            }
            if !TOPIC_ATTRIBUTES.contains(&k.as_str()) {
                return Err(invalid(format!(
                    "Invalid parameter: Attributes Reason: Unknown attribute {k}"
                )));
            }
        }
        Ok(attrs)
    }

    async fn create_topic(&self) -> Res<String> {
        let name = self.form.required("Name")?.to_string();
        if name.ends_with(".fifo") {
            return Err(invalid(
                "Invalid parameter: Topic Name Reason: FIFO topics are not supported by Sandflow",
            ));
        }
        if !valid_topic_name(&name) {
            return Err(invalid("Invalid parameter: Topic Name"));
        }
        let attrs = self.topic_attributes(self.form.map("Attributes"))?;
        let tenant = self.caller.tenant_id;
        let (n, a) = (name.clone(), attrs.clone());
        let topic = self
            .write(move |c| topics::create_topic(c, tenant, &n, &a, now_ms()))
            .await?;
        // Idempotent only for the same attributes (as SNS).
        if !attrs.is_empty()
            && attrs
                .iter()
                .any(|(k, v)| topic.attributes.get(k) != Some(v))
        {
            return Err(invalid(
                "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
            ));
        }
        Ok(format!(
            "    <TopicArn>{}</TopicArn>\n",
            escape(&self.topic_arn(&name))
        ))
    }

    async fn delete_topic(&self) -> Res<()> {
        // Deleting a topic that does not exist is not an error (as SNS).
        let Some(name) = self.topic_name(self.form.required("TopicArn")?)? else {
            return Ok(());
        };
        let (tenant, name) = (self.caller.tenant_id, name.to_string());
        self.write(move |c| topics::delete_topic(c, tenant, &name))
            .await
            .map(drop)
    }

    async fn list_topics(&self) -> Res<String> {
        let after = page_token(self.form)?;
        let tenant = self.caller.tenant_id;
        let page = self
            .read(move |c| topics::list_topics(c, tenant, after, PAGE))
            .await?;
        let mut out = String::from("    <Topics>\n");
        for t in &page {
            out.push_str(&format!(
                "      <member><TopicArn>{}</TopicArn></member>\n",
                escape(&self.topic_arn(&t.name))
            ));
        }
        out.push_str("    </Topics>\n");
        let ids: Vec<i64> = page.iter().map(|t| t.id).collect();
        out.push_str(&next_token(&ids, page.len() == PAGE));
        Ok(out)
    }

    async fn get_topic_attributes(&self) -> Res<String> {
        let topic = self.topic(self.form.required("TopicArn")?).await?;
        let (tenant, id) = (self.caller.tenant_id, topic.id);
        let subs = self
            .read(move |c| topics::list_subscriptions(c, tenant, Some(id), 0, usize::MAX >> 1))
            .await?;
        let arn = self.topic_arn(&topic.name);
        let pending = subs.iter().filter(|s| s.pending_confirmation).count();
        let mut attrs = BTreeMap::from([
            ("TopicArn".to_string(), arn.clone()),
            ("Owner".to_string(), self.caller.account.clone()),
            ("DisplayName".to_string(), String::new()),
            (
                "Policy".to_string(),
                default_policy(&arn, &self.caller.account),
            ),
            (
                "SubscriptionsConfirmed".to_string(),
                (subs.len() - pending).to_string(),
            ),
            ("SubscriptionsPending".to_string(), pending.to_string()),
            ("SubscriptionsDeleted".to_string(), "0".to_string()),
            (
                "EffectiveDeliveryPolicy".to_string(),
                DEFAULT_DELIVERY_POLICY.to_string(),
            ),
        ]);
        attrs.extend(topic.attributes);
        Ok(format!(
            "    <Attributes>\n{}    </Attributes>\n",
            entries(&attrs)
        ))
    }

    async fn set_topic_attributes(&self) -> Res<()> {
        let name = self.form.required("AttributeName")?.to_string();
        let value = self
            .form
            .get("AttributeValue")
            .unwrap_or_default()
            .to_string();
        if !TOPIC_ATTRIBUTES.contains(&name.as_str()) {
            return Err(invalid("Invalid parameter: AttributeName"));
        }
        let topic = self.topic(self.form.required("TopicArn")?).await?;
        let mut attrs = topic.attributes;
        if value.is_empty() && name != "DisplayName" {
            attrs.remove(&name);
        } else {
            attrs.insert(name, value);
        }
        self.write(move |c| topics::set_topic_attributes(c, topic.id, &attrs))
            .await
    }

    fn subscription_attributes(&self, protocol: &str, attrs: &BTreeMap<String, String>) -> Res<()> {
        for (k, v) in attrs {
            if !SUBSCRIPTION_ATTRIBUTES.contains(&k.as_str()) {
                return Err(invalid(format!(
                    "Invalid parameter: Attributes Reason: Sandflow does not support the subscription attribute {k}"
                )));
            }
            if k == "FilterPolicy" {
                sandflow_core::sns_filter::validate(v)
                    .map_err(|why| invalid(format!("Invalid parameter: FilterPolicy: {why}")))?;
            }
            if k == "FilterPolicyScope"
                && !matches!(v.as_str(), "MessageAttributes" | "MessageBody")
            {
                return Err(invalid(format!(
                    "Invalid parameter: Attributes Reason: FilterPolicyScope: Invalid value [{v}]. Please use either MessageBody or MessageAttributes"
                )));
            }
            if k == "RawMessageDelivery" {
                if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") {
                    return Err(invalid(
                        "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value. Must be true or false.",
                    ));
                }
                if protocol.starts_with("email") {
                    return Err(invalid(format!(
                        "Invalid parameter: Attributes Reason: Delivery protocol [{protocol}] does not support raw message delivery."
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks `endpoint` for `protocol`.
    fn endpoint(&self, protocol: &str, endpoint: Option<&str>) -> Res<String> {
        let endpoint = endpoint.unwrap_or_default();
        match protocol {
            "sqs" => {
                let parts: Vec<&str> = endpoint.split(':').collect();
                match parts.as_slice() {
                    ["arn", _, "sqs", _, account, name] if !name.is_empty() => {
                        if *account != self.caller.account {
                            // Another tenant's queue does not exist for this one.
                            return Err(invalid(
                                "Invalid parameter: SQS endpoint ARN: the queue is not in this account",
                            ));
                        }
                        Ok(endpoint.to_string())
                    }
                    _ => Err(invalid("Invalid parameter: SQS endpoint ARN")),
                }
            }
            "http" | "https" => {
                if !endpoint.starts_with(&format!("{protocol}://")) || origin(endpoint).is_none() {
                    return Err(invalid(
                        "Invalid parameter: Endpoint Reason: Endpoint must match the specified protocol",
                    ));
                }
                Ok(endpoint.to_string())
            }
            "email" | "email-json" => {
                let ok = endpoint.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && !domain.is_empty() && !domain.contains('@')
                }) && endpoint
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !"<>()[],;:\\\"".contains(c));
                if !ok {
                    return Err(invalid("Invalid parameter: Email address"));
                }
                Ok(endpoint.to_string())
            }
            other => Err(invalid(format!(
                "Invalid parameter: Amazon SNS does not support this protocol string: {other}"
            ))),
        }
    }

    async fn subscribe(&self) -> Res<String> {
        let protocol = self.form.required("Protocol")?.to_ascii_lowercase();
        let topic_arn = self.form.required("TopicArn")?;
        let endpoint = self.endpoint(&protocol, self.form.get("Endpoint"))?;
        let attrs = self.form.map("Attributes");
        self.subscription_attributes(&protocol, &attrs)?;
        // Only checked: subscriptions are confirmed at once, so the ARN is always returned.
        self.form.bool("ReturnSubscriptionArn")?;
        let topic = self.topic(topic_arn).await?;
        if protocol.starts_with("http") {
            let (opts, tenant, url) = (self.opts.clone(), self.caller.tenant_id, endpoint.clone());
            if !self.read(move |c| opts.allows(c, tenant, &url)).await? {
                return Err(invalid(format!(
                    "Invalid parameter: Endpoint Reason: this server does not deliver to {} \
                     (an operator allows it with `sandflow tenant http-allow TENANT ORIGIN` or \
                     `sandflow serve --sns-http-allow ORIGIN`)",
                    origin(&endpoint).unwrap_or_default()
                )));
            }
        }
        let new = NewSubscription {
            tenant_id: self.caller.tenant_id,
            topic_id: topic.id,
            uuid: uuid(),
            protocol,
            endpoint,
            attributes: attrs,
            // Email subscriptions are confirmed at once (no confirmation mail is sent).
            pending_confirmation: false,
            created_ms: now_ms(),
        };
        let sub = self.write(move |c| topics::subscribe(c, &new)).await?;
        Ok(format!(
            "    <SubscriptionArn>{}</SubscriptionArn>\n",
            escape(&self.subscription_arn(&sub))
        ))
    }

    /// The caller's subscription `arn`, or NotFound.
    async fn subscription(&self, arn: &str) -> Res<Subscription> {
        let parts: Vec<&str> = arn.split(':').collect();
        let (account, uuid) = match parts.as_slice() {
            ["arn", _, "sns", _, account, topic, uuid] if !topic.is_empty() && !uuid.is_empty() => {
                (*account, uuid.to_string())
            }
            _ => return Err(invalid("Invalid parameter: SubscriptionArn")),
        };
        if account != self.caller.account {
            return Err(not_found("Subscription does not exist"));
        }
        let tenant = self.caller.tenant_id;
        self.read(move |c| topics::get_subscription(c, tenant, &uuid))
            .await?
            .ok_or_else(|| not_found("Subscription does not exist"))
    }

    async fn unsubscribe(&self) -> Res<()> {
        let sub = self
            .subscription(self.form.required("SubscriptionArn")?)
            .await?;
        let tenant = self.caller.tenant_id;
        self.write(move |c| topics::unsubscribe(c, tenant, &sub.uuid))
            .await
            .map(drop)
    }

    async fn list_subscriptions(&self, topic: Option<Topic>) -> Res<String> {
        let after = page_token(self.form)?;
        let (tenant, topic_id) = (self.caller.tenant_id, topic.map(|t| t.id));
        let page = self
            .read(move |c| topics::list_subscriptions(c, tenant, topic_id, after, PAGE))
            .await?;
        let mut out = String::from("    <Subscriptions>\n");
        for s in &page {
            out.push_str(&format!(
                "      <member>\n        <SubscriptionArn>{}</SubscriptionArn>\n        <Owner>{}</Owner>\n        \
                 <Protocol>{}</Protocol>\n        <Endpoint>{}</Endpoint>\n        <TopicArn>{}</TopicArn>\n      </member>\n",
                escape(&self.subscription_arn(s)),
                escape(&self.caller.account),
                escape(&s.protocol),
                escape(&s.endpoint),
                escape(&self.topic_arn(&s.topic_name)),
            ));
        }
        out.push_str("    </Subscriptions>\n");
        let ids: Vec<i64> = page.iter().map(|s| s.id).collect();
        out.push_str(&next_token(&ids, page.len() == PAGE));
        Ok(out)
    }

    async fn get_subscription_attributes(&self) -> Res<String> {
        let sub = self
            .subscription(self.form.required("SubscriptionArn")?)
            .await?;
        let mut attrs = BTreeMap::from([
            ("SubscriptionArn".to_string(), self.subscription_arn(&sub)),
            ("TopicArn".to_string(), self.topic_arn(&sub.topic_name)),
            ("Owner".to_string(), self.caller.account.clone()),
            ("Protocol".to_string(), sub.protocol.clone()),
            ("Endpoint".to_string(), sub.endpoint.clone()),
            ("RawMessageDelivery".to_string(), sub.raw().to_string()),
            (
                "PendingConfirmation".to_string(),
                sub.pending_confirmation.to_string(),
            ),
            (
                "ConfirmationWasAuthenticated".to_string(),
                "true".to_string(),
            ),
            (
                "SubscriptionPrincipal".to_string(),
                format!("arn:aws:iam::{}:root", self.caller.account),
            ),
        ]);
        attrs.extend(sub.attributes);
        Ok(format!(
            "    <Attributes>\n{}    </Attributes>\n",
            entries(&attrs)
        ))
    }

    async fn set_subscription_attributes(&self) -> Res<()> {
        let name = self.form.required("AttributeName")?.to_string();
        let value = self
            .form
            .get("AttributeValue")
            .unwrap_or_default()
            .to_string();
        let sub = self
            .subscription(self.form.required("SubscriptionArn")?)
            .await?;
        let mut attrs = sub.attributes.clone();
        if name == "FilterPolicy" && value.is_empty() {
            // An empty policy removes it: every message again.
            attrs.remove(&name);
        } else {
            attrs.insert(name, value);
        }
        self.subscription_attributes(&sub.protocol, &attrs)?;
        self.write(move |c| topics::set_subscription_attributes(c, sub.id, &attrs))
            .await
    }

    async fn publish(&self) -> Res<String> {
        let arn = match (self.form.get("TopicArn"), self.form.get("TargetArn")) {
            (Some(a), _) | (None, Some(a)) => a.to_string(),
            (None, None) if self.form.get("PhoneNumber").is_some() => {
                return Err(invalid(
                    "Invalid parameter: PhoneNumber Reason: Sandflow does not send SMS",
                ));
            }
            (None, None) => {
                return Err(invalid(
                    "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
                ));
            }
        };
        let message = self.form.required("Message")?.to_string();
        if message.is_empty() {
            return Err(invalid("Invalid parameter: Empty message"));
        }
        if self
            .form
            .get("MessageStructure")
            .is_some_and(|s| !s.is_empty())
        {
            return Err(invalid(
                "Invalid parameter: MessageStructure Reason: Sandflow does not support per-protocol messages",
            ));
        }
        let subject = self.form.get("Subject").map(str::to_string);
        if let Some(s) = &subject
            && (s.is_empty()
                || s.chars().count() > 100
                || !s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()))
        {
            return Err(invalid("Invalid parameter: Subject"));
        }
        let attributes = self.form.message_attributes()?;
        let size = message.len()
            + attributes
                .iter()
                .map(|(k, v)| k.len() + v.to_string().len())
                .sum::<usize>();
        if size > MAX_MESSAGE_BYTES {
            return Err(invalid("Invalid parameter: Message too long"));
        }
        let Some(name) = self.topic_name(&arn)?.map(str::to_string) else {
            return Err(no_topic());
        };
        let message_id = uuid();
        let row = TopicMessage {
            id: 0,
            tenant_id: self.caller.tenant_id,
            topic_arn: arn,
            message_id: message_id.clone(),
            subject,
            message,
            attributes: if attributes.is_empty() {
                "null".into()
            } else {
                Value::Object(attributes).to_string()
            },
            created_ms: now_ms(),
        };
        self.write(move |c| {
            let attrs: Value = serde_json::from_str(&row.attributes).unwrap_or(Value::Null);
            let receives = |s: &topics::Subscription| {
                sandflow_core::sns_filter::accepts(&s.attributes, &attrs, &row.message)
            };
            topics::publish(c, &name, &row, receives)
        })
        .await?
        .ok_or_else(no_topic)?;
        PUBLISHED.notify_waiters();
        Ok(format!("    <MessageId>{message_id}</MessageId>\n"))
    }
}

/// SNS's default delivery policy, as GetTopicAttributes reports it.
const DEFAULT_DELIVERY_POLICY: &str = r#"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}"#;

/// The owner-only policy SNS gives a new topic.
fn default_policy(arn: &str, account: &str) -> String {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic",
                "SNS:Publish"],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
        }],
    })
    .to_string()
}

/// `GET /sandflow/outbox[?topic=ARN][&limit=N]` (SigV4, scope `sns`): the caller's latest
/// published messages (newest first, at most 100 unless `limit` says fewer), each with its
/// deliveries: subscription, state (`pending`, `delivered`, `failed`), attempts, last error.
/// Without an SMTP relay, email deliveries stay `pending` here.
pub async fn outbox(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Extension(caller): axum::extract::Extension<Caller>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => PAGE,
        Some(Ok(n)) if (1..=PAGE).contains(&n) => n,
        Some(_) => {
            return super::errors::ApiError::validation("limit must be 1-100").into_response();
        }
    };
    match outbox_of(&state, caller.tenant_id, q.get("topic").cloned(), limit).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The tenant's latest `limit` messages (of one topic ARN, if given), newest first, each with
/// its deliveries: what `GET /sandflow/outbox` and the console's topics page show.
pub async fn outbox_of(
    state: &AppState,
    tenant: i64,
    topic: Option<String>,
    limit: usize,
) -> super::errors::ApiResult<Value> {
    let (messages, deliveries, oldest) = state
        .read(move |c| {
            let messages = topics::recent(c, tenant, topic.as_deref(), limit)?;
            let oldest = messages.last().map_or(i64::MAX, |m| m.id);
            let deliveries = topics::outbox(c, tenant, topic.as_deref(), limit * 20)?;
            Ok((messages, deliveries, oldest))
        })
        .await?;
    let mut by_message: HashMap<i64, Vec<Value>> = HashMap::new();
    for d in deliveries.iter().filter(|d| d.message.id >= oldest) {
        by_message.entry(d.message.id).or_default().push(json!({
            "SubscriptionArn": super::sns_delivery::subscription_arn(d),
            "Protocol": d.subscription.protocol,
            "Endpoint": d.subscription.endpoint,
            "State": d.state,
            "Attempts": d.attempts,
            "NextAttempt": (d.state == topics::PENDING).then_some(d.next_attempt_ms),
            "LastError": d.last_error,
            "Delivered": d.delivered_ms,
        }));
    }
    let out: Vec<Value> = messages
        .into_iter()
        .map(|m| {
            let mut deliveries = by_message.remove(&m.id).unwrap_or_default();
            deliveries.reverse();
            json!({
                "MessageId": m.message_id,
                "TopicArn": m.topic_arn,
                "Subject": m.subject,
                "Message": m.message,
                "MessageAttributes": serde_json::from_str::<Value>(&m.attributes).unwrap_or(Value::Null),
                "Published": m.created_ms,
                "Deliveries": deliveries,
            })
        })
        .collect();
    Ok(json!({ "Messages": out }))
}
