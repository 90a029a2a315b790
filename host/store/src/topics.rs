//! SNS topics per tenant: topics with their attributes, subscriptions, the published
//! messages (`topic_messages`, the record of what was published and the email outbox when no
//! SMTP relay is set), and the delivery outbox: one row per message and subscription, written
//! in the same transaction as the message and retried until delivered or given up.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    /// Attributes set at creation or by SetTopicAttributes (DisplayName, Policy ...).
    pub attributes: BTreeMap<String, String>,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub tenant_id: i64,
    pub topic_id: i64,
    pub topic_name: String,
    /// The last part of the subscription ARN.
    pub uuid: String,
    pub protocol: String,
    pub endpoint: String,
    pub attributes: BTreeMap<String, String>,
    pub pending_confirmation: bool,
    pub created_ms: i64,
}

impl Subscription {
    /// `RawMessageDelivery=true`: the subscriber gets the message alone, not SNS's envelope.
    pub fn raw(&self) -> bool {
        self.attributes
            .get("RawMessageDelivery")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMessage {
    pub id: i64,
    pub tenant_id: i64,
    pub topic_arn: String,
    pub message_id: String,
    pub subject: Option<String>,
    pub message: String,
    /// `MessageAttributes` as JSON text (`null` when none).
    pub attributes: String,
    pub created_ms: i64,
}

/// One outbox row with what delivering it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub attempts: i64,
    pub state: String,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    pub delivered_ms: Option<i64>,
    pub message: TopicMessage,
    pub subscription: Subscription,
}

/// Outbox states.
pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

fn map(text: String) -> BTreeMap<String, String> {
    serde_json::from_str(&text).unwrap_or_default()
}

fn text(m: &BTreeMap<String, String>) -> String {
    serde_json::to_string(m).expect("a string map serializes")
}

fn topic(r: &Row<'_>) -> rusqlite::Result<Topic> {
    Ok(Topic {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        attributes: map(r.get(3)?),
        created_ms: r.get(4)?,
    })
}

const TOPIC: &str = "SELECT id, tenant_id, name, attributes, created_ms FROM topics";

pub fn get_topic(c: &Connection, tenant_id: i64, name: &str) -> Result<Option<Topic>> {
    let sql = format!("{TOPIC} WHERE tenant_id = ?1 AND name = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row(params![tenant_id, name], topic)
        .optional()?)
}

/// Creates the topic, or returns the one of that name (CreateTopic is idempotent).
pub fn create_topic(
    c: &Connection,
    tenant_id: i64,
    name: &str,
    attributes: &BTreeMap<String, String>,
    now_ms: i64,
) -> Result<Topic> {
    c.prepare_cached(
        "INSERT INTO topics (tenant_id, name, attributes, created_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant_id, name) DO NOTHING",
    )?
    .execute(params![tenant_id, name, text(attributes), now_ms])?;
    Ok(get_topic(c, tenant_id, name)?.expect("just inserted"))
}

/// The tenant's topics after `after_id`, in creation order.
pub fn list_topics(
    c: &Connection,
    tenant_id: i64,
    after_id: i64,
    limit: usize,
) -> Result<Vec<Topic>> {
    let sql = format!("{TOPIC} WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
    let rows = c
        .prepare_cached(&sql)?
        .query_map(params![tenant_id, after_id, limit as i64], topic)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn set_topic_attributes(
    c: &Connection,
    topic_id: i64,
    attributes: &BTreeMap<String, String>,
) -> Result<()> {
    c.prepare_cached("UPDATE topics SET attributes = ?2 WHERE id = ?1")?
        .execute(params![topic_id, text(attributes)])?;
    Ok(())
}

/// Deletes the topic with its subscriptions and their pending deliveries; false if absent.
pub fn delete_topic(c: &Connection, tenant_id: i64, name: &str) -> Result<bool> {
    let n = c
        .prepare_cached("DELETE FROM topics WHERE tenant_id = ?1 AND name = ?2")?
        .execute(params![tenant_id, name])?;
    Ok(n > 0)
}

const SUBSCRIPTION: &str =
    "SELECT s.id, s.tenant_id, s.topic_id, t.name, s.uuid, s.protocol, s.endpoint,
        s.attributes, s.pending_confirmation, s.created_ms
    FROM topic_subscriptions s JOIN topics t ON t.id = s.topic_id";

fn subscription_at(r: &Row<'_>, i: usize) -> rusqlite::Result<Subscription> {
    Ok(Subscription {
        id: r.get(i)?,
        tenant_id: r.get(i + 1)?,
        topic_id: r.get(i + 2)?,
        topic_name: r.get(i + 3)?,
        uuid: r.get(i + 4)?,
        protocol: r.get(i + 5)?,
        endpoint: r.get(i + 6)?,
        attributes: map(r.get(i + 7)?),
        pending_confirmation: r.get(i + 8)?,
        created_ms: r.get(i + 9)?,
    })
}

fn subscription(r: &Row<'_>) -> rusqlite::Result<Subscription> {
    subscription_at(r, 0)
}

/// What Subscribe stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    pub tenant_id: i64,
    pub topic_id: i64,
    pub uuid: String,
    pub protocol: String,
    pub endpoint: String,
    pub attributes: BTreeMap<String, String>,
    pub pending_confirmation: bool,
    pub created_ms: i64,
}

/// Subscribes, or returns the topic's existing subscription of the same protocol and
/// endpoint (as SNS does).
pub fn subscribe(c: &Connection, s: &NewSubscription) -> Result<Subscription> {
    let sql = format!(
        "{SUBSCRIPTION} WHERE s.tenant_id = ?1 AND s.topic_id = ?2 AND s.protocol = ?3 AND s.endpoint = ?4"
    );
    let existing = c
        .prepare_cached(&sql)?
        .query_row(
            params![s.tenant_id, s.topic_id, s.protocol, s.endpoint],
            subscription,
        )
        .optional()?;
    if let Some(found) = existing {
        return Ok(found);
    }
    c.prepare_cached(
        "INSERT INTO topic_subscriptions
            (tenant_id, topic_id, uuid, protocol, endpoint, attributes, pending_confirmation, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        s.tenant_id,
        s.topic_id,
        s.uuid,
        s.protocol,
        s.endpoint,
        text(&s.attributes),
        s.pending_confirmation,
        s.created_ms
    ])?;
    Ok(get_subscription(c, s.tenant_id, &s.uuid)?.expect("just inserted"))
}

pub fn get_subscription(
    c: &Connection,
    tenant_id: i64,
    uuid: &str,
) -> Result<Option<Subscription>> {
    let sql = format!("{SUBSCRIPTION} WHERE s.tenant_id = ?1 AND s.uuid = ?2");
    Ok(c.prepare_cached(&sql)?
        .query_row(params![tenant_id, uuid], subscription)
        .optional()?)
}

pub fn set_subscription_attributes(
    c: &Connection,
    subscription_id: i64,
    attributes: &BTreeMap<String, String>,
) -> Result<()> {
    c.prepare_cached("UPDATE topic_subscriptions SET attributes = ?2 WHERE id = ?1")?
        .execute(params![subscription_id, text(attributes)])?;
    Ok(())
}

/// Removes the subscription and its pending deliveries; false if absent.
pub fn unsubscribe(c: &Connection, tenant_id: i64, uuid: &str) -> Result<bool> {
    let n = c
        .prepare_cached("DELETE FROM topic_subscriptions WHERE tenant_id = ?1 AND uuid = ?2")?
        .execute(params![tenant_id, uuid])?;
    Ok(n > 0)
}

/// The tenant's subscriptions after `after_id` (to one topic if given), oldest first.
pub fn list_subscriptions(
    c: &Connection,
    tenant_id: i64,
    topic_id: Option<i64>,
    after_id: i64,
    limit: usize,
) -> Result<Vec<Subscription>> {
    let sql = format!(
        "{SUBSCRIPTION} WHERE s.tenant_id = ?1 AND (?2 IS NULL OR s.topic_id = ?2) AND s.id > ?3
         ORDER BY s.id LIMIT ?4"
    );
    let rows = c
        .prepare_cached(&sql)?
        .query_map(
            params![tenant_id, topic_id, after_id, limit as i64],
            subscription,
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

const MESSAGE: &str = "m.id, m.tenant_id, m.topic_arn, m.message_id, m.subject, m.message, m.attributes, m.created_ms";

fn message_at(r: &Row<'_>, i: usize) -> rusqlite::Result<TopicMessage> {
    Ok(TopicMessage {
        id: r.get(i)?,
        tenant_id: r.get(i + 1)?,
        topic_arn: r.get(i + 2)?,
        message_id: r.get(i + 3)?,
        subject: r.get(i + 4)?,
        message: r.get(i + 5)?,
        attributes: r.get(i + 6)?,
        created_ms: r.get(i + 7)?,
    })
}

/// Publishes `m` to the tenant's topic `topic_name`: stores the message and one outbox row per
/// confirmed subscription that `receives` it (its filter policy), due now. `None` when the
/// topic does not exist (nothing stored).
pub fn publish(
    c: &Connection,
    topic_name: &str,
    m: &TopicMessage,
    receives: impl Fn(&Subscription) -> bool,
) -> Result<Option<i64>> {
    let Some(t) = get_topic(c, m.tenant_id, topic_name)? else {
        return Ok(None);
    };
    c.prepare_cached(
        "INSERT INTO topic_messages (tenant_id, topic_arn, message_id, subject, message, attributes, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        m.tenant_id,
        m.topic_arn,
        m.message_id,
        m.subject,
        m.message,
        m.attributes,
        m.created_ms
    ])?;
    let id = c.last_insert_rowid();
    let subscribers = list_subscriptions(c, m.tenant_id, Some(t.id), 0, usize::MAX >> 1)?;
    for s in subscribers
        .iter()
        .filter(|s| !s.pending_confirmation && receives(s))
    {
        c.prepare_cached(
            "INSERT INTO topic_deliveries (tenant_id, message_id, subscription_id, next_attempt_ms)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![m.tenant_id, id, s.id, m.created_ms])?;
    }
    Ok(Some(id))
}

/// The tenant's latest messages, newest first; `topic_arn` narrows to one topic.
pub fn recent(
    c: &Connection,
    tenant_id: i64,
    topic_arn: Option<&str>,
    limit: usize,
) -> Result<Vec<TopicMessage>> {
    let sql = format!(
        "SELECT {MESSAGE} FROM topic_messages m WHERE m.tenant_id = ?1 AND (?2 IS NULL OR m.topic_arn = ?2)
         ORDER BY m.id DESC LIMIT ?3"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map(params![tenant_id, topic_arn, limit as i64], |r| {
            message_at(r, 0)
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

const DELIVERY: &str =
    "SELECT d.id, d.attempts, d.state, d.next_attempt_ms, d.last_error, d.delivered_ms";

fn delivery(r: &Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        attempts: r.get(1)?,
        state: r.get(2)?,
        next_attempt_ms: r.get(3)?,
        last_error: r.get(4)?,
        delivered_ms: r.get(5)?,
        message: message_at(r, 6)?,
        subscription: subscription_at(r, 14)?,
    })
}

fn deliveries_sql(filter: &str) -> String {
    format!(
        "{DELIVERY}, {MESSAGE}, s.id, s.tenant_id, s.topic_id, t.name, s.uuid, s.protocol, s.endpoint,
            s.attributes, s.pending_confirmation, s.created_ms
         FROM topic_deliveries d
         JOIN topic_messages m ON m.id = d.message_id
         JOIN topic_subscriptions s ON s.id = d.subscription_id
         JOIN topics t ON t.id = s.topic_id
         WHERE {filter}"
    )
}

/// Pending deliveries due at `now_ms` (all tenants: the delivery loop's query), oldest first.
/// Email deliveries only when `email` (an SMTP relay is set); otherwise they wait.
pub fn due(c: &Connection, now_ms: i64, email: bool, limit: usize) -> Result<Vec<Delivery>> {
    let sql = deliveries_sql(
        "d.state = 'pending' AND d.next_attempt_ms <= ?1
           AND (?2 OR s.protocol NOT IN ('email', 'email-json'))
         ORDER BY d.next_attempt_ms, d.id LIMIT ?3",
    );
    let rows = c
        .prepare_cached(&sql)?
        .query_map(params![now_ms, email, limit as i64], delivery)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// When the next pending delivery is due, if any (the delivery loop sleeps until then).
pub fn next_due(c: &Connection, email: bool) -> Result<Option<i64>> {
    Ok(c.prepare_cached(
        "SELECT MIN(d.next_attempt_ms) FROM topic_deliveries d
         JOIN topic_subscriptions s ON s.id = d.subscription_id
         WHERE d.state = 'pending' AND (?1 OR s.protocol NOT IN ('email', 'email-json'))",
    )?
    .query_row(params![email], |r| r.get(0))?)
}

/// The tenant's outbox: deliveries of its messages (to one topic if given), newest first.
pub fn outbox(
    c: &Connection,
    tenant_id: i64,
    topic_arn: Option<&str>,
    limit: usize,
) -> Result<Vec<Delivery>> {
    let sql = deliveries_sql(
        "d.tenant_id = ?1 AND (?2 IS NULL OR m.topic_arn = ?2) ORDER BY d.id DESC LIMIT ?3",
    );
    let rows = c
        .prepare_cached(&sql)?
        .query_map(params![tenant_id, topic_arn, limit as i64], delivery)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn delivered(c: &Connection, id: i64, now_ms: i64) -> Result<()> {
    c.prepare_cached(
        "UPDATE topic_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_ms = ?2,
            last_error = NULL WHERE id = ?1",
    )?
    .execute(params![id, now_ms])?;
    Ok(())
}

/// Records a failed attempt: tried again at `retry_at_ms`, or given up when `None`.
pub fn attempt_failed(
    c: &Connection,
    id: i64,
    error: &str,
    retry_at_ms: Option<i64>,
) -> Result<()> {
    c.prepare_cached(
        "UPDATE topic_deliveries SET attempts = attempts + 1, last_error = ?2,
            state = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'pending' END,
            next_attempt_ms = COALESCE(?3, next_attempt_ms)
         WHERE id = ?1",
    )?
    .execute(params![id, error, retry_at_ms])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{tenants, test_conn};

    fn message(tenant_id: i64, topic: &str, id: &str) -> TopicMessage {
        TopicMessage {
            id: 0,
            tenant_id,
            topic_arn: format!("arn:aws:sns:us-east-1:1:{topic}"),
            message_id: id.into(),
            subject: None,
            message: "hi".into(),
            attributes: "null".into(),
            created_ms: 10,
        }
    }

    fn sub(tenant_id: i64, topic_id: i64, uuid: &str, protocol: &str) -> NewSubscription {
        NewSubscription {
            tenant_id,
            topic_id,
            uuid: uuid.into(),
            protocol: protocol.into(),
            endpoint: format!("{protocol}-endpoint"),
            attributes: BTreeMap::new(),
            pending_confirmation: false,
            created_ms: 1,
        }
    }

    #[test]
    fn topics_are_per_tenant_and_created_once() {
        let c = test_conn();
        let a = tenants::create(&c, "a", "111111111111", 0).unwrap().id;
        let b = tenants::create(&c, "b", "222222222222", 0).unwrap().id;
        let attrs = BTreeMap::from([("DisplayName".to_string(), "D".to_string())]);
        let t1 = create_topic(&c, a, "t1", &attrs, 1).unwrap();
        let again = create_topic(&c, a, "t1", &BTreeMap::new(), 2).unwrap();
        assert_eq!(again, t1);
        create_topic(&c, a, "t2", &BTreeMap::new(), 3).unwrap();
        assert_eq!(get_topic(&c, b, "t1").unwrap(), None);
        let page = list_topics(&c, a, 0, 1).unwrap();
        assert_eq!(page[0].name, "t1");
        let rest = list_topics(&c, a, page[0].id, 10).unwrap();
        assert_eq!(rest.iter().map(|t| &t.name).collect::<Vec<_>>(), ["t2"]);
        assert!(list_topics(&c, b, 0, 10).unwrap().is_empty());
        assert!(!delete_topic(&c, b, "t1").unwrap());
        assert!(delete_topic(&c, a, "t1").unwrap());
        assert_eq!(get_topic(&c, a, "t1").unwrap(), None);
    }

    #[test]
    fn publishing_fills_one_outbox_row_per_subscription() {
        let c = test_conn();
        let a = tenants::create(&c, "a", "111111111111", 0).unwrap().id;
        let b = tenants::create(&c, "b", "222222222222", 0).unwrap().id;
        assert_eq!(
            publish(&c, "t", &message(a, "t", "m0"), |_| true).unwrap(),
            None
        );
        assert!(recent(&c, a, None, 10).unwrap().is_empty());
        let t = create_topic(&c, a, "t", &BTreeMap::new(), 1).unwrap();
        let q = subscribe(&c, &sub(a, t.id, "u1", "sqs")).unwrap();
        // The same protocol and endpoint again is the same subscription.
        assert_eq!(
            subscribe(&c, &sub(a, t.id, "u9", "sqs")).unwrap().uuid,
            "u1"
        );
        subscribe(&c, &sub(a, t.id, "u2", "email")).unwrap();
        assert_eq!(
            publish(&c, "t", &message(b, "t", "x"), |_| true).unwrap(),
            None
        );
        publish(&c, "t", &message(a, "t", "m1"), |_| true)
            .unwrap()
            .unwrap();
        assert_eq!(due(&c, 9, true, 10).unwrap().len(), 0);
        let all = due(&c, 10, true, 10).unwrap();
        assert_eq!(all.len(), 2);
        let sqs_only = due(&c, 10, false, 10).unwrap();
        assert_eq!(sqs_only.len(), 1);
        assert_eq!(sqs_only[0].subscription, q);
        assert_eq!(sqs_only[0].message.message_id, "m1");
        assert_eq!(next_due(&c, false).unwrap(), Some(10));

        attempt_failed(&c, sqs_only[0].id, "boom", Some(50)).unwrap();
        assert_eq!(due(&c, 10, false, 10).unwrap().len(), 0);
        let retried = due(&c, 50, false, 10).unwrap();
        assert_eq!(
            (retried[0].attempts, retried[0].last_error.as_deref()),
            (1, Some("boom"))
        );
        delivered(&c, retried[0].id, 60).unwrap();
        assert_eq!(next_due(&c, false).unwrap(), None);
        let email = &all
            .iter()
            .find(|d| d.subscription.protocol == "email")
            .unwrap();
        attempt_failed(&c, email.id, "gone", None).unwrap();
        let states: Vec<String> = outbox(&c, a, None, 10)
            .unwrap()
            .into_iter()
            .map(|d| d.state)
            .collect();
        assert_eq!(states, [FAILED, DELIVERED]);
        assert!(outbox(&c, b, None, 10).unwrap().is_empty());
    }

    #[test]
    fn deleting_a_topic_removes_its_subscriptions_and_pending_deliveries() {
        let c = test_conn();
        let a = tenants::create(&c, "a", "111111111111", 0).unwrap().id;
        let t = create_topic(&c, a, "t", &BTreeMap::new(), 1).unwrap();
        subscribe(&c, &sub(a, t.id, "u1", "sqs")).unwrap();
        publish(&c, "t", &message(a, "t", "m1"), |_| true).unwrap();
        assert!(delete_topic(&c, a, "t").unwrap());
        assert_eq!(get_subscription(&c, a, "u1").unwrap(), None);
        assert!(due(&c, 100, true, 10).unwrap().is_empty());
        // The record of what was published stays.
        assert_eq!(recent(&c, a, None, 10).unwrap().len(), 1);
        let t = create_topic(&c, a, "t", &BTreeMap::new(), 1).unwrap();
        subscribe(&c, &sub(a, t.id, "u2", "sqs")).unwrap();
        assert!(unsubscribe(&c, a, "u2").unwrap());
        assert!(!unsubscribe(&c, a, "u2").unwrap());
        assert!(list_subscriptions(&c, a, None, 0, 10).unwrap().is_empty());
    }
}
