//! The `sns:publish` service integration's request and response shapes, as Step Functions
//! sends and returns them (pure: the engine stores the message).

use serde_json::{Value, json};

use crate::Failure;
use crate::lambda::{InvokeMeta, with_sdk_metadata};
use crate::run::TaskOutcome;

/// One Publish call, from the Task's effective parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    pub topic_arn: String,
    /// The message text (a JSON parameter is sent as its JSON text).
    pub message: String,
    pub subject: Option<String>,
    /// `MessageAttributes`, as given.
    pub attributes: Value,
}

fn invalid(message: impl Into<String>, request_id: &str) -> Failure {
    Failure::new(
        "SNS.InvalidParameterException",
        format!(
            "{} (Service: AmazonSNS; Status Code: 400; Error Code: InvalidParameter; Request ID: {request_id}; Proxy: null)",
            message.into()
        ),
    )
}

impl Publish {
    pub fn from_task(params: &Value, request_id: &str) -> Result<Publish, Failure> {
        let topic_arn = ["TopicArn", "TargetArn"]
            .iter()
            .find_map(|k| params.get(*k).and_then(Value::as_str))
            .ok_or_else(|| {
                invalid(
                    "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
                    request_id,
                )
            })?
            .to_string();
        let message = match params.get("Message") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => {
                return Err(invalid(
                    "Invalid parameter: Message Reason: no value for required parameter",
                    request_id,
                ));
            }
            Some(other) => other.to_string(),
        };
        if message.is_empty() {
            return Err(invalid("Invalid parameter: Empty message", request_id));
        }
        Ok(Publish {
            topic_arn,
            message,
            subject: params
                .get("Subject")
                .and_then(Value::as_str)
                .map(str::to_string),
            attributes: params
                .get("MessageAttributes")
                .cloned()
                .unwrap_or(Value::Null),
        })
    }

    /// The topic's account, if the ARN is a well-formed SNS topic ARN.
    pub fn topic_account(&self) -> Option<&str> {
        let parts: Vec<&str> = self.topic_arn.split(':').collect();
        match parts.as_slice() {
            ["arn", _, "sns", _, account, name] if !name.is_empty() => Some(account),
            _ => None,
        }
    }
}

/// SNS's 404 for a topic that does not exist, as Step Functions reports it.
pub fn topic_not_found(request_id: &str) -> Failure {
    Failure::new(
        "SNS.NotFoundException",
        format!(
            "Topic does not exist (Service: AmazonSNS; Status Code: 404; Error Code: NotFound; Request ID: {request_id}; Proxy: null)"
        ),
    )
}

/// The task result of a successful Publish.
pub fn publish_response(message_id: &str, meta: &InvokeMeta) -> Value {
    // The length of SNS's XML answer, which the SDK reports.
    let body = format!(
        "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\n  <PublishResult>\n    \
         <MessageId>{message_id}</MessageId>\n  </PublishResult>\n  <ResponseMetadata>\n    \
         <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</PublishResponse>\n",
        meta.request_id
    );
    let length = body.len().to_string();
    with_sdk_metadata(
        json!({"MessageId": message_id}),
        &[
            ("x-amzn-RequestId", &meta.request_id),
            ("connection", "keep-alive"),
            ("Content-Length", &length),
            ("Date", &meta.date),
            ("Content-Type", "text/xml"),
        ],
        &meta.request_id,
    )
}

/// The `aws-sdk:sns:publish` form of an outcome: the bare answer (`MessageId`), and errors
/// named and worded as SDK v2 does (`Sns.NotFoundException`).
pub fn as_sdk_v2(outcome: TaskOutcome) -> TaskOutcome {
    match outcome {
        TaskOutcome::Succeeded(v) => {
            TaskOutcome::Succeeded(json!({"MessageId": v.get("MessageId").cloned()}))
        }
        TaskOutcome::Failed(f) => {
            let Some(name) = f.error.strip_prefix("SNS.") else {
                return TaskOutcome::Failed(f);
            };
            let cause = f.cause.unwrap_or_default();
            // "MESSAGE (Service: AmazonSNS; Status Code: N; Error Code: C; Request ID: R; Proxy: null)"
            let (message, details) = cause
                .split_once(" (Service: AmazonSNS; ")
                .unwrap_or((&cause, ""));
            let field = |key: &str| {
                details
                    .split("; ")
                    .find_map(|p| p.strip_prefix(key))
                    .unwrap_or_default()
                    .to_string()
            };
            let v2 = format!(
                "{message} (Service: Sns, Status Code: {}, Request ID: {})",
                field("Status Code: "),
                field("Request ID: ")
            );
            TaskOutcome::Failed(Failure::new(format!("Sns.{name}"), v2))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_reads_parameters_like_step_functions() {
        let p = Publish::from_task(
            &json!({"TopicArn": "arn:aws:sns:us-east-1:111111111111:t", "Message": {"a": 1}, "Subject": "s"}),
            "rid",
        )
        .unwrap();
        assert_eq!(
            (p.message.as_str(), p.subject.as_deref()),
            (r#"{"a":1}"#, Some("s"))
        );
        assert_eq!(p.topic_account(), Some("111111111111"));
        let e = Publish::from_task(&json!({"TopicArn": "arn:aws:sns:r:1:t"}), "rid").unwrap_err();
        assert_eq!(e.error, "SNS.InvalidParameterException");
        assert!(Publish::from_task(&json!({"Message": "m"}), "rid").is_err());
        let bad = Publish::from_task(&json!({"TopicArn": "nope", "Message": "m"}), "r").unwrap();
        assert_eq!(bad.topic_account(), None);
    }

    #[test]
    fn the_sdk_form_is_bare_and_named_as_sdk_v2() {
        let meta = InvokeMeta {
            request_id: "r1".into(),
            date: "d".into(),
            trace_id: String::new(),
        };
        let ok = as_sdk_v2(TaskOutcome::Succeeded(publish_response("m1", &meta)));
        assert_eq!(ok, TaskOutcome::Succeeded(json!({"MessageId": "m1"})));
        let TaskOutcome::Failed(f) = as_sdk_v2(TaskOutcome::Failed(topic_not_found("r1"))) else {
            panic!()
        };
        assert_eq!(f.error, "Sns.NotFoundException");
        assert_eq!(
            f.cause.as_deref(),
            Some("Topic does not exist (Service: Sns, Status Code: 404, Request ID: r1)")
        );
    }

    #[test]
    fn the_response_reports_the_xml_length_aws_does() {
        let meta = InvokeMeta {
            request_id: "b".repeat(36),
            date: "Tue, 01 Dec 2026 08:00:00 GMT".into(),
            trace_id: String::new(),
        };
        let out = publish_response(&"a".repeat(36), &meta);
        assert_eq!(
            out["SdkHttpMetadata"]["HttpHeaders"]["Content-Length"],
            "294"
        );
        assert_eq!(out["MessageId"], "a".repeat(36));
    }
}
