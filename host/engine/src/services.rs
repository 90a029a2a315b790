//! Task states that call the built-in SQS queues and DynamoDB tables (`sqs:sendMessage`,
//! `dynamodb:putItem`, `aws-sdk:dynamodb:query` ...) and HTTP endpoints (`http:invoke`). The engine shapes requests and answers
//! (`sandflow_core::services`); a [`Services`] implementation makes the call. The server's is
//! its SQS and DynamoDB APIs, so a workflow and a boto3 client see the same queues and tables.

use std::sync::Arc;

use sandflow_core::Failure;
use sandflow_core::error::names;
use sandflow_core::lambda::InvokeMeta;
use sandflow_core::run::TaskOutcome;
use sandflow_core::services::{Integration, Service, ServiceError};
use serde_json::Value;

use crate::tasks::{BoxFuture, Caller};

/// Answers one API call of a built-in service for `caller`: `action` is the API's name
/// (`SendMessage`), `request` its JSON request.
pub trait Services: Send + Sync + 'static {
    fn call(
        &self,
        caller: &Caller,
        service: Service,
        action: &str,
        request: Value,
    ) -> BoxFuture<Result<Value, ServiceError>>;

    /// `http:invoke`: makes the task's HTTP call (`params`: its effective parameters) with
    /// the credentials of its connection.
    fn http_invoke(&self, _caller: &Caller, _params: Value) -> BoxFuture<TaskOutcome> {
        let f = Failure::new(names::RUNTIME, "This server runs no HTTP tasks.");
        Box::pin(async move { TaskOutcome::Failed(f) })
    }
}

/// No built-in services (engine tests and benches): every call is an unknown operation.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoServices;

impl Services for NoServices {
    fn call(
        &self,
        _: &Caller,
        _: Service,
        action: &str,
        _: Value,
    ) -> BoxFuture<Result<Value, ServiceError>> {
        let e = ServiceError {
            status: 400,
            shape: "UnknownOperationException".into(),
            code: "UnknownOperationException".into(),
            message: format!("This server runs no built-in services ({action})"),
        };
        Box::pin(async move { Err(e) })
    }
}

/// Makes the integration's call with the Task's `params` and shapes the answer as Step
/// Functions does.
pub fn call(
    services: &Arc<dyn Services>,
    caller: &Caller,
    integration: Integration,
    params: &Value,
    meta: InvokeMeta,
) -> BoxFuture<TaskOutcome> {
    let answer = services.call(
        caller,
        integration.service,
        &integration.action,
        integration.request(params),
    );
    Box::pin(async move {
        match answer.await {
            Ok(body) => TaskOutcome::Succeeded(integration.output(body, &meta)),
            Err(e) => TaskOutcome::Failed(integration.failure(&e, &meta.request_id)),
        }
    })
}
