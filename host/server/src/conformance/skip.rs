//! Which cases need something Sandflow does not have yet. One table, [`RULES`]: when a feature
//! lands, delete its row.
//!
//! A case is judged by what it exercises: creation cases (the definition must be rejected) only
//! need the parser, so most runtime features do not skip them.

use sandflow_core::resource::{Pattern, Resource};
use sandflow_core::services::Integration;
use serde_json::Value;

use super::case::{Case, any_node};

struct Rule {
    /// Also applies to cases where only creation/validation is checked.
    creation: bool,
    /// The missing feature this case needs, if any (e.g. `jsonata`, `sns`).
    needs: fn(&Case) -> Option<String>,
}

const RULES: &[Rule] = &[
    Rule {
        creation: false,
        needs: distributed_map,
    },
    Rule {
        creation: false,
        needs: callback,
    },
    Rule {
        creation: false,
        needs: activity,
    },
    Rule {
        creation: false,
        needs: other_integration,
    },
    Rule {
        creation: true,
        needs: http_api,
    },
];

/// `Some(feature)` when the case cannot run yet.
pub fn skip_reason(case: &Case) -> Option<String> {
    RULES
        .iter()
        .filter(|r| r.creation || !case.is_creation_case())
        .find_map(|r| (r.needs)(case))
}

fn tagged(case: &Case, tag: &str) -> Option<String> {
    case.has_feature(tag).then(|| tag.to_string())
}

/// Distributed Map inputs and outputs (item readers, batching, result writers). A Distributed
/// Map without them runs its iterations inline, which gives AWS's output.
fn distributed_map(case: &Case) -> Option<String> {
    let in_content = any_node(&case.definition, &mut |key, _| {
        matches!(key, Some("ItemReader" | "ItemBatcher" | "ResultWriter"))
    });
    in_content.then(|| "distributed_map".into())
}

/// `.waitForTaskToken`: completing it needs SendTaskSuccess from outside, i.e. an engine.
fn callback(case: &Case) -> Option<String> {
    let in_content = resources(&case.definition).iter().any(|r| {
        matches!(
            Resource::parse(r),
            Resource::Service {
                pattern: Pattern::WaitForTaskToken,
                ..
            }
        )
    });
    tagged(case, "callback").or(in_content.then(|| "callback".into()))
}

fn activity(case: &Case) -> Option<String> {
    let in_content = resources(&case.definition)
        .iter()
        .any(|r| matches!(Resource::parse(r), Resource::Activity { .. }));
    tagged(case, "activity").or(in_content.then(|| "activity".into()))
}

/// Service integrations the harness does not run: anything but Lambda, `sns:publish` and the
/// built-in SQS and DynamoDB.
fn other_integration(case: &Case) -> Option<String> {
    resources(&case.definition)
        .iter()
        .find_map(|r| match Resource::parse(r) {
            Resource::Service {
                service: "lambda", ..
            } => None,
            r if is_sns_publish(&r) => None,
            r @ Resource::Service { .. } if Integration::from_resource(&r).is_some() => None,
            Resource::Service { service, .. } if service.starts_with("aws-sdk") => {
                Some("aws_sdk".into())
            }
            Resource::Service {
                service, action, ..
            } => Some(format!("{service}:{action}")),
            _ => None,
        })
}

/// `arn:aws:states:::sns:publish` (request-response), which the harness runs on built-in topics.
pub fn is_sns_publish(r: &Resource<'_>) -> bool {
    matches!(
        r,
        Resource::Service {
            service: "sns",
            action: "publish",
            pattern: Pattern::RequestResponse,
        }
    )
}

/// Cases whose answer only the HTTP API gives: API errors other than definition validation
/// (versions, aliases, tags ...), expectations beyond status/output/error/cause, and aborts.
fn http_api(case: &Case) -> Option<String> {
    let api_error = case
        .creation_error
        .as_ref()
        .is_some_and(|e| e.error_type != "InvalidDefinition" && !e.is_validate_api());
    let needs = api_error || !case.expected.other.is_empty() || case.expected.status == "ABORTED";
    needs.then(|| "http_api".into())
}

/// Every Task `Resource` string in the definition, at any depth.
pub fn resources(def: &Value) -> Vec<String> {
    let mut out = Vec::new();
    any_node(def, &mut |key, v| {
        if let (Some("Resource"), Some(s)) = (key, v.as_str()) {
            out.push(s.to_string());
        }
        false
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case(
        features: &[&str],
        definition: Value,
        expected: Value,
        creation: Option<Value>,
    ) -> Case {
        let dir = std::env::temp_dir().join(format!(
            "sandflow-skip-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        let mut doc = json!({"id": "t/c", "features": features, "definition": definition, "expected": expected});
        if let Some(c) = creation {
            doc["creation_error"] = c;
        }
        std::fs::write(&path, doc.to_string()).unwrap();
        let c = Case::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        c
    }

    fn task(resource: &str) -> Value {
        json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": resource, "End": true}}})
    }

    fn ok() -> Value {
        json!({"status": "SUCCEEDED", "output": {}})
    }

    fn created() -> Value {
        json!({"status": "CREATION_FAILED"})
    }

    #[test]
    fn plain_lambda_cases_run() {
        let c = case(
            &["lambda", "task"],
            task("arn:aws:lambda:us-east-1:1:function:f"),
            ok(),
            None,
        );
        assert_eq!(skip_reason(&c), None);
        let c = case(
            &["task"],
            task("arn:aws:states:::lambda:invoke"),
            ok(),
            None,
        );
        assert_eq!(skip_reason(&c), None);
    }

    #[test]
    fn integrations_callbacks_and_activities() {
        // The built-in SQS, DynamoDB and SNS run.
        for runs in [
            "arn:aws:states:::sqs:sendMessage",
            "arn:aws:states:::dynamodb:putItem",
            "arn:aws:states:::aws-sdk:dynamodb:query",
        ] {
            assert_eq!(skip_reason(&case(&["sqs"], task(runs), ok(), None)), None);
        }
        let c = case(&["sns"], task("arn:aws:states:::sns:publish"), ok(), None);
        assert_eq!(skip_reason(&c), None);
        let c = case(
            &[],
            task("arn:aws:states:::sns:publish.waitForTaskToken"),
            ok(),
            None,
        );
        assert_eq!(skip_reason(&c).as_deref(), Some("callback"));
        let c = case(&[], task("arn:aws:states:::ecs:runTask"), ok(), None);
        assert_eq!(skip_reason(&c).as_deref(), Some("ecs:runTask"));
        let c = case(
            &[],
            task("arn:aws:states:::aws-sdk:s3:listBuckets"),
            ok(),
            None,
        );
        assert_eq!(skip_reason(&c).as_deref(), Some("aws_sdk"));
        let c = case(
            &[],
            task("arn:aws:states:::states:startExecution.sync:2"),
            ok(),
            None,
        );
        assert_eq!(skip_reason(&c).as_deref(), Some("states:startExecution"));
        let c = case(
            &[],
            task("arn:aws:states:::lambda:invoke.waitForTaskToken"),
            ok(),
            None,
        );
        assert_eq!(skip_reason(&c).as_deref(), Some("callback"));
        let c = case(
            &[],
            task("arn:aws:states:us-east-1:1:activity:a"),
            ok(),
            None,
        );
        assert_eq!(skip_reason(&c).as_deref(), Some("activity"));
    }

    #[test]
    fn creation_cases_only_need_the_parser() {
        let err = json!({"__type": "InvalidDefinition", "message": "m"});
        let c = case(
            &["callback", "sqs"],
            task("arn:aws:states:::sqs:sendMessage.waitForTaskToken"),
            created(),
            Some(err.clone()),
        );
        assert_eq!(skip_reason(&c), None);
        let d = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
            "Label": "", "End": true}}});
        let c = case(&[], d, created(), Some(err));
        assert_eq!(skip_reason(&c), None);
    }

    #[test]
    fn api_only_expectations_need_the_http_api() {
        let err = json!({"__type": "ValidationException", "message": "Version description can only be set when publish is true"});
        let c = case(
            &[],
            task("arn:aws:lambda:us-east-1:1:function:f"),
            created(),
            Some(err),
        );
        assert_eq!(skip_reason(&c).as_deref(), Some("http_api"));
        let validate = json!({"__type": "SCHEMA_VALIDATION_FAILED", "message": "m",
                              "api": "ValidateStateMachineDefinition", "diagnostics": []});
        let c = case(
            &[],
            task("arn:aws:lambda:us-east-1:1:function:f"),
            created(),
            Some(validate),
        );
        assert_eq!(skip_reason(&c), None);
        let described = json!({"status": "SUCCEEDED", "output": {}, "versions": []});
        let c = case(
            &[],
            task("arn:aws:lambda:us-east-1:1:function:f"),
            described,
            None,
        );
        assert_eq!(skip_reason(&c).as_deref(), Some("http_api"));
    }
}
