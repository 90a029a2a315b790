//! Task `Resource` checks: which ARNs AWS recognizes (Lambda functions, activities, the optimized
//! service integrations with their actions, any AWS SDK integration), and which integration
//! patterns an Express machine refuses.

use super::MachineType;
use crate::resource::Pattern;

/// Optimized integrations and their actions, as AWS lists them (request-response action names;
/// `.sync` / `.waitForTaskToken` variants are accepted on any of them).
const OPTIMIZED: &[(&str, &[&str])] = &[
    ("lambda", &["invoke"]),
    ("sns", &["publish"]),
    ("sqs", &["sendMessage"]),
    (
        "dynamodb",
        &["getItem", "putItem", "deleteItem", "updateItem"],
    ),
    ("states", &["startExecution"]),
    ("events", &["putEvents"]),
    ("apigateway", &["invoke"]),
    ("http", &["invoke"]),
    ("ecs", &["runTask"]),
    ("batch", &["submitJob"]),
    ("glue", &["startJobRun"]),
    ("databrew", &["startJobRun"]),
    (
        "athena",
        &[
            "startQueryExecution",
            "stopQueryExecution",
            "getQueryExecution",
            "getQueryResults",
            "startCalculationExecution",
        ],
    ),
    (
        "sagemaker",
        &[
            "createEndpoint",
            "createEndpointConfig",
            "createHyperParameterTuningJob",
            "createLabelingJob",
            "createModel",
            "createProcessingJob",
            "createTrainingJob",
            "createTransformJob",
            "updateEndpoint",
        ],
    ),
    (
        "codebuild",
        &[
            "startBuild",
            "stopBuild",
            "batchDeleteBuilds",
            "batchGetReports",
            "startBuildBatch",
            "stopBuildBatch",
            "retryBuildBatch",
            "deleteBuildBatch",
            "retryBuild",
        ],
    ),
    (
        "eks",
        &[
            "createCluster",
            "deleteCluster",
            "createFargateProfile",
            "deleteFargateProfile",
            "createNodegroup",
            "deleteNodegroup",
            "runJob",
            "call",
        ],
    ),
    (
        "elasticmapreduce",
        &[
            "createCluster",
            "terminateCluster",
            "addStep",
            "cancelStep",
            "setClusterTerminationProtection",
            "modifyInstanceFleetByName",
            "modifyInstanceGroupByName",
        ],
    ),
    (
        "emr-containers",
        &[
            "startJobRun",
            "createVirtualCluster",
            "deleteVirtualCluster",
        ],
    ),
    (
        "emr-serverless",
        &[
            "createApplication",
            "startApplication",
            "stopApplication",
            "deleteApplication",
            "startJobRun",
            "cancelJobRun",
        ],
    ),
    ("mediaconvert", &["createJob"]),
    ("bedrock", &["invokeModel", "createModelCustomizationJob"]),
];

/// `arn:<partition>:...` split in its six colon-separated parts (the last may hold colons).
fn arn_parts(arn: &str) -> Option<Vec<&str>> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6 && parts[0] == "arn" && parts[1].starts_with("aws")).then_some(parts)
}

/// `Some(pattern)` when AWS recognizes the resource.
pub(super) fn recognize(resource: &str) -> Option<Pattern> {
    let p = arn_parts(resource)?;
    let (service, region, account, rest) = (p[2], p[3], p[4], p[5]);
    match service {
        "lambda" => {
            let name = rest.strip_prefix("function:")?;
            (!region.is_empty() && !account.is_empty() && !name.is_empty())
                .then_some(Pattern::RequestResponse)
        }
        "states" if !region.is_empty() => {
            let name = rest.strip_prefix("activity:")?;
            (!account.is_empty() && !name.is_empty()).then_some(Pattern::RequestResponse)
        }
        "states" if account.is_empty() => {
            let (integration, action) = rest.split_once(':')?;
            if integration == "aws-sdk" {
                // `aws-sdk:<service>:<action>[.pattern]`
                let (svc, action) = action.split_once(':')?;
                let (action, pattern) = Pattern::split(action);
                return (!svc.is_empty() && !action.is_empty()).then_some(pattern);
            }
            let (action, pattern) = Pattern::split(action);
            OPTIMIZED
                .iter()
                .any(|(s, actions)| *s == integration && actions.contains(&action))
                .then_some(pattern)
        }
        _ => None,
    }
}

/// AWS's wording for an unrecognized resource.
pub(super) fn unrecognized_message(resource: &str) -> String {
    format!(
        "The resource provided {resource} is not recognized. The value is not a valid resource ARN, or the resource is not available in this region."
    )
}

/// The Express-machine refusal for `.sync` / `.waitForTaskToken`, if any (the trailing space is AWS's).
pub(super) fn express_refusal(pattern: Pattern, ty: MachineType) -> Option<String> {
    let suffix = match (ty, pattern) {
        (MachineType::Express, Pattern::WaitForTaskToken) => ".waitForTaskToken",
        (MachineType::Express, Pattern::Sync) => ".sync",
        _ => return None,
    };
    Some(format!(
        "Express state machine does not support '{suffix}' service integration "
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_functions_activities_and_integrations() {
        let ok = [
            "arn:aws:lambda:us-east-1:111111111111:function:f",
            "arn:aws:lambda:us-east-1:111111111111:function:f:$LATEST",
            "arn:aws:states:us-east-1:111111111111:activity:work",
            "arn:aws:states:::lambda:invoke",
            "arn:aws:states:::dynamodb:putItem",
            "arn:aws:states:::aws-sdk:dynamodb:query",
            "arn:aws-us-gov:states:::sqs:sendMessage",
        ];
        for r in ok {
            assert_eq!(recognize(r), Some(Pattern::RequestResponse), "{r}");
        }
        assert_eq!(
            recognize("arn:aws:states:::sns:publish.waitForTaskToken"),
            Some(Pattern::WaitForTaskToken)
        );
        assert_eq!(
            recognize("arn:aws:states:::states:startExecution.sync:2"),
            Some(Pattern::Sync)
        );
    }

    #[test]
    fn refuses_unknown_resources() {
        for r in [
            "arn:aws:states:::dynamodb:query",
            "arn:aws:states:::nosuch:thing",
            "arn:aws:lambda:us-east-1:1:layer:x",
            "createToken",
            "arn:aws:s3:::bucket",
        ] {
            assert_eq!(recognize(r), None, "{r}");
        }
        assert_eq!(
            unrecognized_message("arn:aws:states:::dynamodb:query"),
            "The resource provided arn:aws:states:::dynamodb:query is not recognized. The value is not a valid resource ARN, or the resource is not available in this region."
        );
    }

    #[test]
    fn express_refuses_callbacks_and_sync() {
        assert_eq!(
            express_refusal(Pattern::WaitForTaskToken, MachineType::Express).unwrap(),
            "Express state machine does not support '.waitForTaskToken' service integration "
        );
        assert!(express_refusal(Pattern::Sync, MachineType::Express).is_some());
        assert!(express_refusal(Pattern::Sync, MachineType::Standard).is_none());
        assert!(express_refusal(Pattern::RequestResponse, MachineType::Express).is_none());
    }
}
