//! Messages published to a tenant's topics (the `sns:publish` integration). Until topics
//! have subscriptions, this is the outbox where published messages can be read.

use rusqlite::{Connection, Row, params};

use crate::Result;

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

const COLUMNS: &str =
    "id, tenant_id, topic_arn, message_id, subject, message, attributes, created_ms";

fn message(r: &Row<'_>) -> rusqlite::Result<TopicMessage> {
    Ok(TopicMessage {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        topic_arn: r.get(2)?,
        message_id: r.get(3)?,
        subject: r.get(4)?,
        message: r.get(5)?,
        attributes: r.get(6)?,
        created_ms: r.get(7)?,
    })
}

pub fn publish(c: &Connection, m: &TopicMessage) -> Result<i64> {
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
    Ok(c.last_insert_rowid())
}

/// The tenant's latest messages, newest first; `topic_arn` narrows to one topic.
pub fn recent(
    c: &Connection,
    tenant_id: i64,
    topic_arn: Option<&str>,
    limit: usize,
) -> Result<Vec<TopicMessage>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM topic_messages WHERE tenant_id = ?1 AND (?2 IS NULL OR topic_arn = ?2)
         ORDER BY id DESC LIMIT ?3"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st
        .query_map(params![tenant_id, topic_arn, limit as i64], message)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{tenants, test_conn};

    #[test]
    fn messages_are_kept_per_tenant_and_topic() {
        let c = test_conn();
        let a = tenants::create(&c, "a", "111111111111", 0).unwrap().id;
        let b = tenants::create(&c, "b", "222222222222", 0).unwrap().id;
        let m = |tenant_id, topic: &str, id: &str| TopicMessage {
            id: 0,
            tenant_id,
            topic_arn: topic.into(),
            message_id: id.into(),
            subject: None,
            message: "hi".into(),
            attributes: "null".into(),
            created_ms: 1,
        };
        publish(&c, &m(a, "t1", "m1")).unwrap();
        publish(&c, &m(a, "t2", "m2")).unwrap();
        publish(&c, &m(b, "t1", "m3")).unwrap();
        let ids = |v: Vec<TopicMessage>| v.into_iter().map(|m| m.message_id).collect::<Vec<_>>();
        assert_eq!(ids(recent(&c, a, None, 10).unwrap()), ["m2", "m1"]);
        assert_eq!(ids(recent(&c, a, Some("t1"), 10).unwrap()), ["m1"]);
        assert_eq!(ids(recent(&c, b, None, 10).unwrap()), ["m3"]);
    }
}
