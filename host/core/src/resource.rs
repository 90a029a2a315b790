//! Task `Resource` ARNs: what kind of work a Task state asks for, and how AWS names it in history.

/// How the state machine waits on a service integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    RequestResponse,
    /// `.sync` (and `.sync:2`)
    Sync,
    /// `.waitForTaskToken`
    WaitForTaskToken,
}

impl Pattern {
    /// `sendMessage.waitForTaskToken` -> (`sendMessage`, WaitForTaskToken).
    pub fn split(action: &str) -> (&str, Pattern) {
        if let Some(a) = action.strip_suffix(".waitForTaskToken") {
            (a, Pattern::WaitForTaskToken)
        } else if let Some(a) = action
            .strip_suffix(".sync:2")
            .or_else(|| action.strip_suffix(".sync"))
        {
            (a, Pattern::Sync)
        } else {
            (action, Pattern::RequestResponse)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource<'a> {
    /// `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`
    LambdaFunction {
        arn: &'a str,
        name: &'a str,
    },
    /// `arn:aws:states:::SERVICE:ACTION[.sync|.waitForTaskToken]`, e.g. `lambda:invoke`.
    Service {
        service: &'a str,
        action: &'a str,
        pattern: Pattern,
    },
    /// `arn:aws:states:REGION:ACCOUNT:activity:NAME`
    Activity {
        arn: &'a str,
        name: &'a str,
    },
    Unknown(&'a str),
}

impl<'a> Resource<'a> {
    pub fn parse(arn: &'a str) -> Resource<'a> {
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        if parts.len() < 6 || parts[0] != "arn" {
            return Resource::Unknown(arn);
        }
        match (parts[2], parts.get(5).copied(), parts.get(6).copied()) {
            ("lambda", Some("function"), Some(rest)) if !rest.is_empty() => {
                let name = rest.split(':').next().unwrap_or(rest);
                Resource::LambdaFunction { arn, name }
            }
            ("states", Some("activity"), Some(name)) if !name.is_empty() => {
                Resource::Activity { arn, name }
            }
            ("states", Some(service), Some(action))
                if parts[3].is_empty() && parts[4].is_empty() =>
            {
                // `aws-sdk:SERVICE:ACTION`: the service is `aws-sdk:SERVICE`, as in history.
                let (service, action) = match (service, action.split_once(':')) {
                    ("aws-sdk", Some((sdk_service, action))) => {
                        let end = arn.len() - action.len() - 1;
                        (
                            &arn[end - "aws-sdk:".len() - sdk_service.len()..end],
                            action,
                        )
                    }
                    _ => (service, action),
                };
                let (action, pattern) = Pattern::split(action);
                Resource::Service {
                    service,
                    action,
                    pattern,
                }
            }
            _ => Resource::Unknown(arn),
        }
    }

    /// `(resourceType, resource)` as in `TaskScheduled` history details: `("lambda", "invoke")`,
    /// `("sqs", "sendMessage.waitForTaskToken")`.
    pub fn history_names(&self, full: &'a str) -> (&'a str, &'a str) {
        match self {
            Resource::Service { service, .. } => {
                let prefix_len = full
                    .find(service)
                    .map(|i| i + service.len() + 1)
                    .unwrap_or(0);
                (service, &full[prefix_len.min(full.len())..])
            }
            _ => ("", full),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(
            Resource::parse("arn:aws:lambda:us-east-1:111111111111:function:f"),
            Resource::LambdaFunction {
                arn: "arn:aws:lambda:us-east-1:111111111111:function:f",
                name: "f"
            }
        );
        assert!(matches!(
            Resource::parse("arn:aws:lambda:us-east-1:1:function:f:$LATEST"),
            Resource::LambdaFunction { name: "f", .. }
        ));
        let s = "arn:aws:states:::sqs:sendMessage.waitForTaskToken";
        let r = Resource::parse(s);
        assert_eq!(
            r,
            Resource::Service {
                service: "sqs",
                action: "sendMessage",
                pattern: Pattern::WaitForTaskToken
            }
        );
        assert_eq!(r.history_names(s), ("sqs", "sendMessage.waitForTaskToken"));
        assert!(matches!(
            Resource::parse("arn:aws:states:::states:startExecution.sync:2"),
            Resource::Service {
                action: "startExecution",
                pattern: Pattern::Sync,
                ..
            }
        ));
        assert!(matches!(
            Resource::parse("arn:aws:states:us-east-1:1:activity:work"),
            Resource::Activity { name: "work", .. }
        ));
        assert!(matches!(Resource::parse("nope"), Resource::Unknown(_)));
        let s = "arn:aws:states:::aws-sdk:dynamodb:query";
        let r = Resource::parse(s);
        assert!(matches!(
            r,
            Resource::Service {
                service: "aws-sdk:dynamodb",
                action: "query",
                pattern: Pattern::RequestResponse
            }
        ));
        assert_eq!(r.history_names(s), ("aws-sdk:dynamodb", "query"));
    }
}
