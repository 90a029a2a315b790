//! Built-in queues with SQS semantics: per-tenant queues (standard and FIFO) with their
//! attributes, and their messages: delay, visibility timeout, a new receipt handle per receive,
//! receive counts, redrive to a dead-letter queue, FIFO deduplication and message-group order.
//! Validating attribute values and computing MD5s is the wire's job; this module stores them.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Error, Result, unique};

/// FIFO deduplication window (AWS: 5 minutes).
pub const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;

/// Attribute defaults (AWS's), for the attributes a queue stores.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("VisibilityTimeout", "30"),
    ("DelaySeconds", "0"),
    ("MessageRetentionPeriod", "345600"),
    ("ReceiveMessageWaitTimeSeconds", "0"),
    ("MaximumMessageSize", "262144"),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    /// The attributes set at creation or by SetQueueAttributes (defaults not included).
    pub attributes: BTreeMap<String, String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl Queue {
    pub fn is_fifo(&self) -> bool {
        self.name.ends_with(".fifo")
    }

    /// An attribute's value, or its default.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .get(name)
            .map(String::as_str)
            .or_else(|| DEFAULTS.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    /// A numeric attribute (or its default); 0 when unset or unreadable.
    pub fn int_attr(&self, name: &str) -> i64 {
        self.attr(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    pub fn content_based_dedup(&self) -> bool {
        self.attr("ContentBasedDeduplication") == Some("true")
    }

    /// The dead-letter queue's name and maxReceiveCount, from RedrivePolicy.
    pub fn redrive(&self) -> Option<(String, i64)> {
        let policy: serde_json::Value = serde_json::from_str(self.attr("RedrivePolicy")?).ok()?;
        let arn = policy.get("deadLetterTargetArn")?.as_str()?;
        let max = match policy.get("maxReceiveCount")? {
            serde_json::Value::Number(n) => n.as_i64()?,
            serde_json::Value::String(s) => s.parse().ok()?,
            _ => return None,
        };
        Some((arn.rsplit(':').next()?.to_string(), max))
    }
}

fn row_queue(r: &rusqlite::Row) -> rusqlite::Result<Queue> {
    let attrs: String = r.get(3)?;
    Ok(Queue {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        attributes: serde_json::from_str(&attrs).unwrap_or_default(),
        created_ms: r.get(4)?,
        updated_ms: r.get(5)?,
    })
}

const QUEUE_COLS: &str = "id, tenant_id, name, attributes, created_ms, updated_ms";

/// Creates the queue. An existing queue of that name is returned when `attributes` equal its
/// own; otherwise `Conflict` (SQS: QueueNameExists).
pub fn create(
    c: &Connection,
    tenant_id: i64,
    name: &str,
    attributes: &BTreeMap<String, String>,
    now_ms: i64,
) -> Result<Queue> {
    if let Some(q) = get(c, tenant_id, name)? {
        return if &q.attributes == attributes {
            Ok(q)
        } else {
            Err(Error::Conflict(format!("queue {name}")))
        };
    }
    let attrs = serde_json::to_string(attributes).expect("a string map serializes");
    c.prepare_cached(
        "INSERT INTO queues (tenant_id, name, attributes, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
    )?
    .execute(params![tenant_id, name, attrs, now_ms])
    .map_err(|e| unique(e, || format!("queue {name}")))?;
    Ok(Queue {
        id: c.last_insert_rowid(),
        tenant_id,
        name: name.to_string(),
        attributes: attributes.clone(),
        created_ms: now_ms,
        updated_ms: now_ms,
    })
}

pub fn get(c: &Connection, tenant_id: i64, name: &str) -> Result<Option<Queue>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {QUEUE_COLS} FROM queues WHERE tenant_id = ?1 AND name = ?2"
    ))?
    .query_row(params![tenant_id, name], row_queue)
    .optional()?)
}

/// Queue names in name order, starting with `prefix`, after `after`.
pub fn list(
    c: &Connection,
    tenant_id: i64,
    prefix: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT name FROM queues WHERE tenant_id = ?1 AND name > ?2 AND substr(name, 1, length(?3)) = ?3 ORDER BY name LIMIT ?4",
    )?;
    let rows = st
        .query_map(params![tenant_id, after, prefix, limit as i64], |r| {
            r.get(0)
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Deletes the queue and its messages.
pub fn delete(c: &Connection, tenant_id: i64, name: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM queues WHERE tenant_id = ?1 AND name = ?2")?
            .execute(params![tenant_id, name])?
            > 0,
    )
}

/// Merges `attributes` into the queue's (an empty value removes one, as SQS does for
/// RedrivePolicy).
pub fn set_attributes(
    c: &Connection,
    tenant_id: i64,
    name: &str,
    attributes: &BTreeMap<String, String>,
    now_ms: i64,
) -> Result<bool> {
    let Some(mut q) = get(c, tenant_id, name)? else {
        return Ok(false);
    };
    for (k, v) in attributes {
        if v.is_empty() {
            q.attributes.remove(k);
        } else {
            q.attributes.insert(k.clone(), v.clone());
        }
    }
    let attrs = serde_json::to_string(&q.attributes).expect("a string map serializes");
    c.prepare_cached("UPDATE queues SET attributes = ?1, updated_ms = ?2 WHERE id = ?3")?
        .execute(params![attrs, now_ms, q.id])?;
    Ok(true)
}

/// ApproximateNumberOfMessages, ...NotVisible and ...Delayed.
pub fn counts(c: &Connection, queue_id: i64, now_ms: i64) -> Result<(i64, i64, i64)> {
    Ok(c.prepare_cached(
        "SELECT coalesce(sum(visible_ms <= ?2), 0),
                coalesce(sum(visible_ms > ?2 AND receive_count > 0), 0),
                coalesce(sum(visible_ms > ?2 AND receive_count = 0), 0)
         FROM queue_messages WHERE queue_id = ?1",
    )?
    .query_row(params![queue_id, now_ms], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?)
}

/// A message to send. `dedup_id` is required on FIFO queues (the wire derives it from the
/// body under ContentBasedDeduplication).
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub message_id: String,
    pub body: String,
    pub md5_body: String,
    /// Message attributes as SQS JSON (`{"name": {"DataType", "StringValue"...}}`).
    pub attributes: Option<String>,
    pub md5_attributes: Option<String>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    pub delay_s: i64,
}

/// What a send stored: the message id and its sequence number. A FIFO duplicate within the
/// window answers the first message's.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub message_id: String,
    pub seq: i64,
    pub duplicate: bool,
}

pub fn send(c: &Connection, q: &Queue, m: &NewMessage, now_ms: i64) -> Result<Sent> {
    if let Some(dedup) = m.dedup_id.as_deref().filter(|_| q.is_fifo()) {
        c.prepare_cached("DELETE FROM queue_dedup WHERE queue_id = ?1 AND expires_ms <= ?2")?
            .execute(params![q.id, now_ms])?;
        let seen: Option<(String, i64)> = c
            .prepare_cached(
                "SELECT message_id, seq FROM queue_dedup WHERE queue_id = ?1 AND dedup_id = ?2",
            )?
            .query_row(params![q.id, dedup], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((message_id, seq)) = seen {
            return Ok(Sent {
                message_id,
                seq,
                duplicate: true,
            });
        }
    }
    c.prepare_cached(
        "INSERT INTO queue_messages (queue_id, message_id, body, md5_body, attributes, md5_attributes,
             group_id, dedup_id, sent_ms, visible_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        q.id,
        m.message_id,
        m.body,
        m.md5_body,
        m.attributes,
        m.md5_attributes,
        m.group_id,
        m.dedup_id,
        now_ms,
        now_ms + m.delay_s * 1000
    ])?;
    let seq = c.last_insert_rowid();
    if let Some(dedup) = m.dedup_id.as_deref().filter(|_| q.is_fifo()) {
        c.prepare_cached(
            "INSERT INTO queue_dedup (queue_id, dedup_id, expires_ms, message_id, seq) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![q.id, dedup, now_ms + DEDUP_WINDOW_MS, m.message_id, seq])?;
    }
    Ok(Sent {
        message_id: m.message_id.clone(),
        seq,
        duplicate: false,
    })
}

/// A delivered message.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub seq: i64,
    pub message_id: String,
    pub receipt: String,
    pub body: String,
    pub md5_body: String,
    pub attributes: Option<String>,
    pub md5_attributes: Option<String>,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    pub sent_ms: i64,
    pub receive_count: i64,
    pub first_receive_ms: i64,
    /// The queue it was moved from, when it is in a dead-letter queue.
    pub source_arn: Option<String>,
}

const MESSAGE_COLS: &str = "seq, message_id, body, md5_body, attributes, md5_attributes, group_id, dedup_id, sent_ms, receive_count, first_receive_ms, source_arn";

fn row_message(r: &rusqlite::Row) -> rusqlite::Result<Received> {
    Ok(Received {
        seq: r.get(0)?,
        message_id: r.get(1)?,
        receipt: String::new(),
        body: r.get(2)?,
        md5_body: r.get(3)?,
        attributes: r.get(4)?,
        md5_attributes: r.get(5)?,
        group_id: r.get(6)?,
        dedup_id: r.get(7)?,
        sent_ms: r.get(8)?,
        receive_count: r.get(9)?,
        first_receive_ms: r.get::<_, Option<i64>>(10)?.unwrap_or(0),
        source_arn: r.get(11)?,
    })
}

/// Receives up to `max` visible messages, hiding each for `visibility_s` and giving it a fresh
/// receipt handle from `receipt`. Messages past the retention period are dropped; a message
/// already received maxReceiveCount times moves to the dead-letter queue (`source_arn` is the
/// ARN recorded on it there). FIFO: in send order, skipping every group with a message in
/// flight.
pub fn receive(
    c: &Connection,
    q: &Queue,
    source_arn: &str,
    max: usize,
    visibility_s: i64,
    now_ms: i64,
    receipt: &mut dyn FnMut() -> String,
) -> Result<Vec<Received>> {
    let retention_ms = q.int_attr("MessageRetentionPeriod") * 1000;
    let redrive = match q.redrive() {
        Some((dlq, max_count)) => get(c, q.tenant_id, &dlq)?.map(|d| (d.id, max_count)),
        None => None,
    };
    let select = if q.is_fifo() {
        format!(
            "SELECT {MESSAGE_COLS} FROM queue_messages WHERE queue_id = ?1 AND visible_ms <= ?2
               AND (group_id IS NULL OR group_id NOT IN (
                   SELECT group_id FROM queue_messages
                   WHERE queue_id = ?1 AND visible_ms > ?2 AND receive_count > 0 AND group_id IS NOT NULL))
             ORDER BY seq LIMIT ?3"
        )
    } else {
        format!(
            "SELECT {MESSAGE_COLS} FROM queue_messages WHERE queue_id = ?1 AND visible_ms <= ?2
             ORDER BY visible_ms, seq LIMIT ?3"
        )
    };
    let mut out = Vec::new();
    loop {
        let want = max - out.len();
        let candidates: Vec<Received> = c
            .prepare_cached(&select)?
            .query_map(params![q.id, now_ms, want as i64], row_message)?
            .collect::<rusqlite::Result<_>>()?;
        if candidates.is_empty() {
            break;
        }
        let mut removed = false;
        for mut m in candidates {
            if m.sent_ms + retention_ms <= now_ms {
                c.prepare_cached("DELETE FROM queue_messages WHERE seq = ?1")?
                    .execute([m.seq])?;
                removed = true;
                continue;
            }
            if let Some((dlq, max_count)) = redrive
                && m.receive_count >= max_count
            {
                c.prepare_cached(
                    "UPDATE queue_messages SET queue_id = ?1, receive_count = 0, first_receive_ms = NULL,
                         visible_ms = ?2, receipt = NULL, source_arn = ?3 WHERE seq = ?4",
                )?
                .execute(params![dlq, now_ms, source_arn, m.seq])?;
                removed = true;
                continue;
            }
            m.receipt = receipt();
            m.receive_count += 1;
            if m.first_receive_ms == 0 {
                m.first_receive_ms = now_ms;
            }
            c.prepare_cached(
                "UPDATE queue_messages SET receive_count = ?1, first_receive_ms = ?2, visible_ms = ?3,
                     receipt = ?4 WHERE seq = ?5",
            )?
            .execute(params![
                m.receive_count,
                m.first_receive_ms,
                now_ms + visibility_s * 1000,
                m.receipt,
                m.seq
            ])?;
            out.push(m);
        }
        // Hidden messages no longer match; only removals can leave more to look at.
        if out.len() >= max || !removed {
            break;
        }
    }
    Ok(out)
}

/// Deletes the message holding this receipt handle. A stale handle (the message was received
/// again, or is gone) deletes nothing and is not an error, as in SQS.
pub fn delete_message(c: &Connection, queue_id: i64, receipt: &str) -> Result<bool> {
    Ok(
        c.prepare_cached("DELETE FROM queue_messages WHERE queue_id = ?1 AND receipt = ?2")?
            .execute(params![queue_id, receipt])?
            > 0,
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    Changed,
    /// The handle's message is visible again (SQS: MessageNotInflight).
    NotInFlight,
    /// No message holds this handle (SQS: ReceiptHandleIsInvalid).
    Unknown,
}

/// Makes the message with this receipt handle visible `timeout_s` from now.
pub fn change_visibility(
    c: &Connection,
    queue_id: i64,
    receipt: &str,
    timeout_s: i64,
    now_ms: i64,
) -> Result<Visibility> {
    let visible: Option<i64> = c
        .prepare_cached(
            "SELECT visible_ms FROM queue_messages WHERE queue_id = ?1 AND receipt = ?2",
        )?
        .query_row(params![queue_id, receipt], |r| r.get(0))
        .optional()?;
    match visible {
        None => Ok(Visibility::Unknown),
        Some(v) if v <= now_ms => Ok(Visibility::NotInFlight),
        Some(_) => {
            c.prepare_cached(
                "UPDATE queue_messages SET visible_ms = ?1 WHERE queue_id = ?2 AND receipt = ?3",
            )?
            .execute(params![now_ms + timeout_s * 1000, queue_id, receipt])?;
            Ok(Visibility::Changed)
        }
    }
}

/// Deletes every message of the queue.
pub fn purge(c: &Connection, queue_id: i64) -> Result<usize> {
    Ok(
        c.prepare_cached("DELETE FROM queue_messages WHERE queue_id = ?1")?
            .execute([queue_id])?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_conn;

    fn tenant(c: &Connection, id: i64) {
        c.execute(
            "INSERT INTO tenants (id, name, account_id, created_ms) VALUES (?1, ?2, ?3, 0)",
            params![id, format!("t{id}"), format!("{id:012}")],
        )
        .unwrap();
    }

    fn msg(id: &str, group: Option<&str>, dedup: Option<&str>) -> NewMessage {
        NewMessage {
            message_id: id.into(),
            body: format!("body {id}"),
            md5_body: "x".into(),
            group_id: group.map(Into::into),
            dedup_id: dedup.map(Into::into),
            ..NewMessage::default()
        }
    }

    fn receipts() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("r{n}")
        }
    }

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn queues_are_per_tenant_and_create_is_idempotent() {
        let c = test_conn();
        tenant(&c, 1);
        tenant(&c, 2);
        let a = attrs(&[("VisibilityTimeout", "5")]);
        let q = create(&c, 1, "jobs", &a, 10).unwrap();
        assert_eq!(create(&c, 1, "jobs", &a, 20).unwrap(), q);
        assert!(matches!(
            create(&c, 1, "jobs", &BTreeMap::new(), 20),
            Err(Error::Conflict(_))
        ));
        assert!(get(&c, 2, "jobs").unwrap().is_none());
        create(&c, 2, "jobs", &BTreeMap::new(), 10).unwrap();
        create(&c, 1, "jobs-2", &BTreeMap::new(), 10).unwrap();
        create(&c, 1, "other", &BTreeMap::new(), 10).unwrap();
        assert_eq!(list(&c, 1, "jobs", "", 10).unwrap(), ["jobs", "jobs-2"]);
        assert_eq!(list(&c, 1, "", "jobs", 1).unwrap(), ["jobs-2"]);
        assert_eq!(q.int_attr("VisibilityTimeout"), 5);
        assert_eq!(q.int_attr("DelaySeconds"), 0);
        assert!(delete(&c, 1, "jobs").unwrap());
        assert!(!delete(&c, 1, "jobs").unwrap());
        assert!(get(&c, 2, "jobs").unwrap().is_some());
    }

    #[test]
    fn visibility_timeout_hides_then_redelivers_with_a_new_receipt() {
        let c = test_conn();
        tenant(&c, 1);
        let q = create(&c, 1, "q", &BTreeMap::new(), 0).unwrap();
        let mut r = receipts();
        send(&c, &q, &msg("m1", None, None), 0).unwrap();
        let got = receive(&c, &q, "arn", 10, 30, 1000, &mut r).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].receive_count, 1);
        assert!(
            receive(&c, &q, "arn", 10, 30, 2000, &mut r)
                .unwrap()
                .is_empty()
        );
        assert_eq!(counts(&c, q.id, 2000).unwrap(), (0, 1, 0));
        let again = receive(&c, &q, "arn", 10, 30, 31_000, &mut r).unwrap();
        assert_eq!(again[0].receive_count, 2);
        assert_ne!(again[0].receipt, got[0].receipt);
        assert_eq!(again[0].first_receive_ms, 1000);
        assert!(
            !delete_message(&c, q.id, &got[0].receipt).unwrap(),
            "stale handle"
        );
        assert_eq!(
            change_visibility(&c, q.id, &again[0].receipt, 0, 32_000).unwrap(),
            Visibility::Changed
        );
        assert_eq!(
            change_visibility(&c, q.id, &again[0].receipt, 10, 32_000).unwrap(),
            Visibility::NotInFlight
        );
        assert_eq!(
            change_visibility(&c, q.id, "nope", 10, 32_000).unwrap(),
            Visibility::Unknown
        );
        assert!(delete_message(&c, q.id, &again[0].receipt).unwrap());
        assert_eq!(counts(&c, q.id, 40_000).unwrap(), (0, 0, 0));
    }

    #[test]
    fn delay_and_retention() {
        let c = test_conn();
        tenant(&c, 1);
        let q = create(&c, 1, "q", &attrs(&[("MessageRetentionPeriod", "60")]), 0).unwrap();
        let mut r = receipts();
        let mut m = msg("m1", None, None);
        m.delay_s = 5;
        send(&c, &q, &m, 0).unwrap();
        assert_eq!(counts(&c, q.id, 1000).unwrap(), (0, 0, 1));
        assert!(
            receive(&c, &q, "arn", 1, 30, 4000, &mut r)
                .unwrap()
                .is_empty()
        );
        assert_eq!(receive(&c, &q, "arn", 1, 0, 5000, &mut r).unwrap().len(), 1);
        assert!(
            receive(&c, &q, "arn", 1, 0, 60_000, &mut r)
                .unwrap()
                .is_empty(),
            "expired"
        );
        assert_eq!(counts(&c, q.id, 60_000).unwrap(), (0, 0, 0));
    }

    #[test]
    fn redrive_moves_a_message_after_max_receives() {
        let c = test_conn();
        tenant(&c, 1);
        let dlq = create(&c, 1, "dlq", &BTreeMap::new(), 0).unwrap();
        let policy = r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000001:dlq","maxReceiveCount":"2"}"#;
        let q = create(&c, 1, "q", &attrs(&[("RedrivePolicy", policy)]), 0).unwrap();
        assert_eq!(q.redrive(), Some(("dlq".into(), 2)));
        let mut r = receipts();
        send(&c, &q, &msg("m1", None, None), 0).unwrap();
        assert_eq!(receive(&c, &q, "src", 1, 0, 1, &mut r).unwrap().len(), 1);
        assert_eq!(receive(&c, &q, "src", 1, 0, 2, &mut r).unwrap().len(), 1);
        assert!(receive(&c, &q, "src", 1, 0, 3, &mut r).unwrap().is_empty());
        let moved = receive(&c, &dlq, "dlq-arn", 1, 0, 4, &mut r).unwrap();
        assert_eq!(moved[0].message_id, "m1");
        assert_eq!(moved[0].source_arn.as_deref(), Some("src"));
        assert_eq!(moved[0].receive_count, 1);
    }

    #[test]
    fn fifo_dedups_and_blocks_groups_in_flight() {
        let c = test_conn();
        tenant(&c, 1);
        let q = create(&c, 1, "q.fifo", &attrs(&[("FifoQueue", "true")]), 0).unwrap();
        let mut r = receipts();
        let first = send(&c, &q, &msg("a1", Some("a"), Some("d1")), 0).unwrap();
        let dup = send(&c, &q, &msg("a1-again", Some("a"), Some("d1")), 1000).unwrap();
        assert!(dup.duplicate);
        assert_eq!(dup.message_id, "a1");
        assert_eq!(dup.seq, first.seq);
        send(&c, &q, &msg("a2", Some("a"), Some("d2")), 0).unwrap();
        send(&c, &q, &msg("b1", Some("b"), Some("d3")), 0).unwrap();
        let got = receive(&c, &q, "arn", 1, 30, 10, &mut r).unwrap();
        assert_eq!(got[0].message_id, "a1");
        // Group a is in flight, so only b is deliverable.
        let got2 = receive(&c, &q, "arn", 10, 30, 20, &mut r).unwrap();
        let ids: Vec<_> = got2.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids, ["b1"]);
        delete_message(&c, q.id, &got[0].receipt).unwrap();
        let got3 = receive(&c, &q, "arn", 10, 30, 30, &mut r).unwrap();
        assert_eq!(got3[0].message_id, "a2");
        // After the window, the same dedup id is a new message.
        let later = send(
            &c,
            &q,
            &msg("a3", Some("a"), Some("d1")),
            DEDUP_WINDOW_MS + 1,
        )
        .unwrap();
        assert!(!later.duplicate);
        assert_eq!(purge(&c, q.id).unwrap(), 3);
    }
}
