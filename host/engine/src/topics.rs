//! The `sns:publish` integration on the tenant's topics (`sandflow_store::topics`): the
//! message and one outbox row per subscription are stored in one write, and the task returns
//! SNS's answer. A topic that does not exist, or another account's, fails the task with SNS's
//! NotFound. The server's delivery loop is woken through [`PUBLISHED`].

use std::sync::LazyLock;

use sandflow_core::Failure;
use sandflow_core::interp::TaskCall;
use sandflow_core::lambda::InvokeMeta;
use sandflow_core::rng::Rng;
use sandflow_core::run::TaskOutcome;
use sandflow_core::sns::{Publish, publish_response, topic_not_found};
use sandflow_store::Connection;
use sandflow_store::topics::{self, TopicMessage};
use serde_json::Value;

use crate::Engine;
use crate::tasks::{BoxFuture, Caller};

/// Notified after each committed publish, so deliveries start without polling.
pub static PUBLISHED: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);

/// One `sns:publish` task's parameters `input`, as a store write: the task's outcome.
pub fn publish_in(
    c: &Connection,
    caller: &Caller,
    input: &Value,
    meta: &InvokeMeta,
    message_id: &str,
    now_ms: i64,
) -> sandflow_store::Result<TaskOutcome> {
    let publish = match Publish::from_task(input, &meta.request_id) {
        Ok(p) => p,
        Err(f) => return Ok(TaskOutcome::Failed(f)),
    };
    let name = match publish.topic_account() {
        Some(account) if account == caller.account => {
            publish.topic_arn.rsplit(':').next().unwrap_or_default()
        }
        _ => return Ok(TaskOutcome::Failed(topic_not_found(&meta.request_id))),
    };
    let row = TopicMessage {
        id: 0,
        tenant_id: caller.tenant_id,
        topic_arn: publish.topic_arn.clone(),
        message_id: message_id.to_string(),
        subject: publish.subject,
        message: publish.message,
        attributes: publish.attributes.to_string(),
        created_ms: now_ms,
    };
    let receives = |s: &topics::Subscription| {
        sandflow_core::sns_filter::accepts(&s.attributes, &publish.attributes, &row.message)
    };
    Ok(match topics::publish(c, name, &row, receives)? {
        Some(_) => TaskOutcome::Succeeded(publish_response(message_id, meta)),
        None => TaskOutcome::Failed(topic_not_found(&meta.request_id)),
    })
}

impl Engine {
    pub(crate) fn publish(&self, caller: &Caller, call: &TaskCall) -> BoxFuture<TaskOutcome> {
        let now = self.inner.clock.now();
        let mut rng = Rng::new(self.seed() ^ call.task);
        let meta = InvokeMeta::generate(&mut rng, now);
        let message_id = rng.uuid_v4();
        let (engine, caller, input) = (self.clone(), caller.clone(), call.input.clone());
        Box::pin(async move {
            let outcome = engine
                .write(move |c| {
                    publish_in(
                        c,
                        &caller,
                        &input,
                        &meta,
                        &message_id,
                        now.timestamp_millis(),
                    )
                })
                .await;
            match outcome {
                Ok(o) => {
                    PUBLISHED.notify_waiters();
                    o
                }
                Err(e) => TaskOutcome::Failed(Failure::new(
                    "SNS.InternalErrorException",
                    format!("the message could not be stored: {e}"),
                )),
            }
        })
    }
}
