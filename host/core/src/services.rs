//! Step Functions' SQS and DynamoDB integrations, optimized (`sqs:sendMessage`,
//! `dynamodb:getItem` ...) and AWS SDK (`aws-sdk:sqs:*`, `aws-sdk:dynamodb:*`): which API
//! action a resource names, how the Task's parameters become the request, and how the
//! service's answer or error becomes the task's output or failure. Pure: the engine makes the
//! call.
//!
//! Optimized integrations answer like the Java SDK v1 Step Functions uses (`SdkHttpMetadata`,
//! `DynamoDB.ConditionalCheckFailedException`, causes ending in `(Service: AmazonSQS; ...)`);
//! AWS SDK integrations answer like SDK v2 (`DynamoDb.`, `Sqs.` error prefixes, `Md5Of...`).

use serde_json::Value;

use crate::Failure;
use crate::lambda::{InvokeMeta, with_sdk_metadata};
use crate::resource::{Pattern, Resource};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sqs,
    DynamoDb,
}

/// One integration call: the service, its API action (`SendMessage`), and which form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    pub service: Service,
    pub action: String,
    /// The `aws-sdk:` form.
    pub sdk: bool,
    pub pattern: Pattern,
}

/// A service's error answer: its HTTP status, the error shape's name (`QueueDoesNotExist`,
/// `ConditionalCheckFailedException`), the code on the wire (SQS's query code such as
/// `AWS.SimpleQueueService.NonExistentQueue`), and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub status: u16,
    pub shape: String,
    pub code: String,
    pub message: String,
}

impl Integration {
    /// The SQS or DynamoDB call a resource names; `None` for anything else.
    pub fn from_resource(resource: &Resource) -> Option<Integration> {
        let Resource::Service {
            service,
            action,
            pattern,
        } = resource
        else {
            return None;
        };
        let (svc, sdk) = match *service {
            "sqs" => (Service::Sqs, false),
            "dynamodb" => (Service::DynamoDb, false),
            "aws-sdk:sqs" => (Service::Sqs, true),
            "aws-sdk:dynamodb" => (Service::DynamoDb, true),
            _ => return None,
        };
        let mut chars = action.chars();
        let first = chars.next()?;
        Some(Integration {
            service: svc,
            action: first.to_ascii_uppercase().to_string() + chars.as_str(),
            sdk,
            pattern: *pattern,
        })
    }

    /// The API request for the Task's effective parameters.
    pub fn request(&self, params: &Value) -> Value {
        let mut request = params.clone();
        // The optimized SQS integration sends a JSON MessageBody as its JSON text; a null one
        // counts as missing.
        if self.service == Service::Sqs
            && !self.sdk
            && let Some(m) = request.as_object_mut()
        {
            match m.get("MessageBody") {
                Some(Value::Null) => {
                    m.remove("MessageBody");
                }
                Some(v) if !v.is_string() => {
                    let text = v.to_string();
                    m.insert("MessageBody".into(), Value::String(text));
                }
                _ => {}
            }
        }
        request
    }

    /// The task's output for the service's answer `body`.
    pub fn output(&self, body: Value, meta: &InvokeMeta) -> Value {
        if self.sdk {
            return match self.service {
                Service::Sqs => sdk_v2_md5_names(body),
                Service::DynamoDb => body,
            };
        }
        let (content_type, length, request_id_header) = match self.service {
            Service::DynamoDb => {
                let text = body.to_string();
                // DynamoDB's front end spells this header in lower case for GetItem only.
                let rid = if self.action == "GetItem" {
                    "x-amzn-requestid"
                } else {
                    "x-amzn-RequestId"
                };
                ("application/x-amz-json-1.0", text.len(), rid)
            }
            Service::Sqs => (
                "text/xml",
                sqs_xml_length(&self.action, &body, &meta.request_id),
                "x-amzn-RequestId",
            ),
        };
        let length = length.to_string();
        let crc = crc32(body.to_string().as_bytes()).to_string();
        let mut headers = Vec::new();
        if self.service == Service::DynamoDb {
            headers.extend([
                ("Server", "Server"),
                ("Connection", "keep-alive"),
                ("x-amz-crc32", crc.as_str()),
            ]);
        }
        headers.extend([
            (request_id_header, meta.request_id.as_str()),
            ("Content-Length", &length),
            ("Date", &meta.date),
            ("Content-Type", content_type),
        ]);
        with_sdk_metadata(body, &headers, &meta.request_id)
    }

    /// The task failure for the service's error.
    pub fn failure(&self, e: &ServiceError, request_id: &str) -> Failure {
        let exception = match self.service {
            Service::Sqs => {
                let name = e.shape.strip_suffix("Exception").unwrap_or(&e.shape);
                SQS_MODELLED
                    .contains(&name)
                    .then(|| format!("{name}Exception"))
            }
            Service::DynamoDb => DYNAMODB_MODELLED.contains(&e.shape.as_str()).then(|| {
                if e.shape == "InternalServerError" {
                    "InternalServerErrorException".to_string()
                } else {
                    e.shape.clone()
                }
            }),
        };
        if self.sdk {
            let prefix = match self.service {
                Service::Sqs => "Sqs",
                Service::DynamoDb => "DynamoDb",
            };
            let name = exception.unwrap_or_else(|| format!("{prefix}Exception"));
            return Failure::new(
                format!("{prefix}.{name}"),
                format!(
                    "{} (Service: {prefix}, Status Code: {}, Request ID: {request_id})",
                    e.message, e.status
                ),
            );
        }
        let (prefix, sdk_service, fallback) = match self.service {
            Service::Sqs => ("SQS", "AmazonSQS", "AmazonSQSException"),
            Service::DynamoDb => ("DynamoDB", "AmazonDynamoDBv2", "AmazonDynamoDBException"),
        };
        let name = exception.unwrap_or_else(|| fallback.to_string());
        Failure::new(
            format!("{prefix}.{name}"),
            format!(
                "{} (Service: {sdk_service}; Status Code: {}; Error Code: {}; Request ID: {request_id}; Proxy: null)",
                e.message, e.status, e.code
            ),
        )
    }
}

/// SQS errors the SDKs model as their own exception classes (JSON shape names without the
/// `Exception` suffix); any other error is the service's generic exception.
const SQS_MODELLED: &[&str] = &[
    "QueueDoesNotExist",
    "QueueNameExists",
    "QueueDeletedRecently",
    "InvalidMessageContents",
    "UnsupportedOperation",
    "ReceiptHandleIsInvalid",
    "MessageNotInflight",
    "OverLimit",
    "PurgeQueueInProgress",
    "TooManyEntriesInBatchRequest",
    "EmptyBatchRequest",
    "BatchEntryIdsNotDistinct",
    "InvalidBatchEntryId",
    "BatchRequestTooLong",
    "InvalidAttributeName",
];

const DYNAMODB_MODELLED: &[&str] = &[
    "ConditionalCheckFailedException",
    "ResourceNotFoundException",
    "ResourceInUseException",
    "ProvisionedThroughputExceededException",
    "ItemCollectionSizeLimitExceededException",
    "TransactionConflictException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "InternalServerError",
];

/// SDK v2 spells SQS's `MD5Of...` members `Md5Of...`.
fn sdk_v2_md5_names(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let k = match k.strip_prefix("MD5Of") {
                        Some(rest) => format!("Md5Of{rest}"),
                        None => k,
                    };
                    (k, sdk_v2_md5_names(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(sdk_v2_md5_names).collect()),
        other => other,
    }
}

/// The length of SQS's XML answer, which the Java SDK reports as `Content-Length`.
fn sqs_xml_length(action: &str, body: &Value, request_id: &str) -> usize {
    let members: String = body
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|s| format!("<{k}>{s}</{k}>")))
        .collect();
    format!(
        "<?xml version=\"1.0\"?><{action}Response xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">\
         <{action}Result>{members}</{action}Result><ResponseMetadata><RequestId>{request_id}</RequestId>\
         </ResponseMetadata></{action}Response>"
    )
    .len()
}

/// CRC-32 (IEEE), as DynamoDB's `x-amz-crc32` header carries it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn integration(resource: &str) -> Integration {
        Integration::from_resource(&Resource::parse(resource)).expect("an integration")
    }

    fn meta() -> InvokeMeta {
        InvokeMeta {
            request_id: "rid".into(),
            date: "Tue, 01 Dec 2026 08:00:00 GMT".into(),
            trace_id: String::new(),
        }
    }

    #[test]
    fn resources_name_actions() {
        let i = integration("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
        assert_eq!(
            (i.service, i.action.as_str(), i.sdk, i.pattern),
            (
                Service::Sqs,
                "SendMessage",
                false,
                Pattern::WaitForTaskToken
            )
        );
        let i = integration("arn:aws:states:::aws-sdk:dynamodb:query");
        assert_eq!(
            (i.service, i.action.as_str(), i.sdk),
            (Service::DynamoDb, "Query", true)
        );
        for other in [
            "arn:aws:states:::lambda:invoke",
            "arn:aws:states:::aws-sdk:s3:listBuckets",
        ] {
            assert_eq!(Integration::from_resource(&Resource::parse(other)), None);
        }
    }

    #[test]
    fn optimized_sqs_sends_json_bodies_as_text() {
        let i = integration("arn:aws:states:::sqs:sendMessage");
        let r = i.request(&json!({"QueueUrl": "u", "MessageBody": {"a": 1}}));
        assert_eq!(r["MessageBody"], r#"{"a":1}"#);
        let r = i.request(&json!({"QueueUrl": "u", "MessageBody": null}));
        assert!(r.get("MessageBody").is_none());
        let sdk = integration("arn:aws:states:::aws-sdk:sqs:sendMessage");
        assert_eq!(
            sdk.request(&json!({"MessageBody": {"a": 1}}))["MessageBody"],
            json!({"a": 1})
        );
    }

    #[test]
    fn optimized_dynamodb_reports_the_json_body_length() {
        let i = integration("arn:aws:states:::dynamodb:updateItem");
        let out = i.output(
            json!({"Attributes": {"S": {"S": "HelloWorldUpdated"}}}),
            &meta(),
        );
        let h = &out["SdkHttpMetadata"]["HttpHeaders"];
        assert_eq!(h["Content-Length"], "46");
        assert_eq!(h["x-amzn-RequestId"], "rid");
        assert_eq!(out["Attributes"]["S"]["S"], "HelloWorldUpdated");
        assert_eq!(out["SdkResponseMetadata"]["RequestId"], "rid");
        let get = integration("arn:aws:states:::dynamodb:getItem").output(json!({}), &meta());
        assert_eq!(
            get["SdkHttpMetadata"]["HttpHeaders"]["x-amzn-requestid"],
            "rid"
        );
        assert_eq!(get["SdkHttpMetadata"]["HttpHeaders"]["Content-Length"], "2");
    }

    #[test]
    fn sdk_outputs_are_the_bare_answer() {
        let i = integration("arn:aws:states:::aws-sdk:sqs:receiveMessage");
        let out = i.output(
            json!({"Messages": [{"MD5OfBody": "x", "Body": "b"}]}),
            &meta(),
        );
        assert_eq!(out, json!({"Messages": [{"Md5OfBody": "x", "Body": "b"}]}));
    }

    #[test]
    fn errors_are_named_as_each_sdk_names_them() {
        let missing = ServiceError {
            status: 400,
            shape: "MissingRequiredParameterException".into(),
            code: "MissingParameter".into(),
            message: "The request must contain the parameter MessageBody.".into(),
        };
        let f = integration("arn:aws:states:::sqs:sendMessage").failure(&missing, "r1");
        assert_eq!(f.error, "SQS.AmazonSQSException");
        assert_eq!(
            f.cause.as_deref().unwrap(),
            "The request must contain the parameter MessageBody. (Service: AmazonSQS; Status Code: 400; Error Code: MissingParameter; Request ID: r1; Proxy: null)"
        );
        let no_queue = ServiceError {
            status: 400,
            shape: "QueueDoesNotExist".into(),
            code: "AWS.SimpleQueueService.NonExistentQueue".into(),
            message: "The specified queue does not exist.".into(),
        };
        let f = integration("arn:aws:states:::sqs:sendMessage").failure(&no_queue, "r");
        assert_eq!(f.error, "SQS.QueueDoesNotExistException");
        let f = integration("arn:aws:states:::aws-sdk:sqs:sendMessage").failure(&no_queue, "r");
        assert_eq!(f.error, "Sqs.QueueDoesNotExistException");
        let cond = ServiceError {
            status: 400,
            shape: "ConditionalCheckFailedException".into(),
            code: "ConditionalCheckFailedException".into(),
            message: "The conditional request failed".into(),
        };
        let f = integration("arn:aws:states:::dynamodb:putItem").failure(&cond, "r");
        assert_eq!(f.error, "DynamoDB.ConditionalCheckFailedException");
        assert!(
            f.cause
                .unwrap()
                .contains("(Service: AmazonDynamoDBv2; Status Code: 400;")
        );
        let f = integration("arn:aws:states:::aws-sdk:dynamodb:putItem").failure(&cond, "r");
        assert_eq!(f.error, "DynamoDb.ConditionalCheckFailedException");
        let invalid = ServiceError {
            shape: "ValidationException".into(),
            code: "ValidationException".into(),
            ..cond
        };
        let f = integration("arn:aws:states:::dynamodb:putItem").failure(&invalid, "r");
        assert_eq!(f.error, "DynamoDB.AmazonDynamoDBException");
        let f = integration("arn:aws:states:::aws-sdk:dynamodb:putItem").failure(&invalid, "r");
        assert_eq!(f.error, "DynamoDb.DynamoDbException");
    }

    #[test]
    fn crc32_is_ieee() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"{}"), 2_745_614_147);
    }
}
