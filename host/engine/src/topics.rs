//! The `sns:publish` integration: the message is stored in the tenant's topic outbox
//! (`sandflow_store::topics`) and the task returns SNS's answer. Topics have no API or
//! subscriptions yet, so any topic of the caller's account accepts messages; another
//! account's topic does not exist.

use sandflow_core::Failure;
use sandflow_core::interp::TaskCall;
use sandflow_core::lambda::InvokeMeta;
use sandflow_core::rng::Rng;
use sandflow_core::run::TaskOutcome;
use sandflow_core::sns::{Publish, publish_response, topic_not_found};
use sandflow_store::topics::{self, TopicMessage};

use crate::Engine;
use crate::tasks::{BoxFuture, Caller};

impl Engine {
    pub(crate) fn publish(&self, caller: &Caller, call: &TaskCall) -> BoxFuture<TaskOutcome> {
        let now = self.inner.clock.now();
        let mut rng = Rng::new(self.seed() ^ call.task);
        let meta = InvokeMeta::generate(&mut rng, now);
        let publish = match Publish::from_task(&call.input, &meta.request_id) {
            Ok(p) if p.topic_account() == Some(caller.account.as_str()) => p,
            Ok(_) => return ready(TaskOutcome::Failed(topic_not_found(&meta.request_id))),
            Err(f) => return ready(TaskOutcome::Failed(f)),
        };
        let message_id = rng.uuid_v4();
        let row = TopicMessage {
            id: 0,
            tenant_id: caller.tenant_id,
            topic_arn: publish.topic_arn,
            message_id: message_id.clone(),
            subject: publish.subject,
            message: publish.message,
            attributes: publish.attributes.to_string(),
            created_ms: now.timestamp_millis(),
        };
        let engine = self.clone();
        Box::pin(async move {
            match engine.write(move |c| topics::publish(c, &row)).await {
                Ok(_) => TaskOutcome::Succeeded(publish_response(&message_id, &meta)),
                Err(e) => TaskOutcome::Failed(Failure::new(
                    "SNS.InternalErrorException",
                    format!("the message could not be stored: {e}"),
                )),
            }
        })
    }
}

fn ready(o: TaskOutcome) -> BoxFuture<TaskOutcome> {
    Box::pin(async move { o })
}
