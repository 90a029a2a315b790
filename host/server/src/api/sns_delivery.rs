//! Delivers the SNS outbox (`sandflow_store::topics::due`): SQS subscriptions get SendMessage
//! on the tenant's built-in queue, http/https ones a POST of SNS's envelope, email ones a mail
//! through the SMTP relay (without one, mail stays in the outbox). A failed attempt is retried
//! with exponential backoff; a row is marked delivered only after the subscriber took it, so
//! delivery is at least once, across restarts too.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sandflow_engine::Caller;
use sandflow_engine::topics::PUBLISHED;
use sandflow_runtime::dns::{self, PublicOnlyResolver};
use sandflow_store::Store;
use sandflow_store::topics::{self, Delivery};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::sns::SnsOptions;
use super::{sqs, store_read, store_write};

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// The first retry's delay; each next one doubles, up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i64 = 1_000;
const MAX_BACKOFF_MS: i64 = 300_000;
/// The longest the loop sleeps without being woken (a publish by another process).
const IDLE_POLL: Duration = Duration::from_secs(2);
/// Per-attempt limit for an http(s) POST or an SMTP session.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
const BATCH: usize = 32;
/// The sender of notification mail.
const MAIL_FROM: &str = "no-reply@sns.sandflow.localhost";

/// When attempt `attempts` (1 = the first) failed, when to try again; `None` = give up.
pub fn retry_at(now_ms: i64, attempts: i64) -> Option<i64> {
    (attempts < MAX_ATTEMPTS).then(|| {
        let shift = (attempts - 1).clamp(0, 20) as u32;
        now_ms + (FIRST_BACKOFF_MS << shift).min(MAX_BACKOFF_MS)
    })
}

/// Starts the delivery loop on the current tokio runtime.
pub fn spawn(store: Store, opts: Arc<SnsOptions>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnlyResolver::default()))
            .build()
            .unwrap_or_default();
        loop {
            let woken = PUBLISHED.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let email = opts.smtp_relay.is_some();
            let now = now_ms();
            let due = store_read(&store, move |c| topics::due(c, now, email, BATCH)).await;
            let due = match due {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e.message, "sns outbox unreadable");
                    tokio::time::sleep(IDLE_POLL).await;
                    continue;
                }
            };
            if !due.is_empty() {
                // Concurrently, so one slow endpoint does not hold up the others.
                let mut batch = tokio::task::JoinSet::new();
                for d in due {
                    let (store, opts, http) = (store.clone(), opts.clone(), http.clone());
                    batch.spawn(async move { deliver_one(&store, &opts, &http, d).await });
                }
                while batch.join_next().await.is_some() {}
                continue;
            }
            let next = store_read(&store, move |c| topics::next_due(c, email))
                .await
                .ok()
                .flatten();
            let wait = next.map_or(IDLE_POLL, |at| {
                Duration::from_millis((at - now_ms()).max(0) as u64).min(IDLE_POLL)
            });
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn deliver_one(store: &Store, opts: &SnsOptions, http: &reqwest::Client, d: Delivery) {
    let result = deliver(store, opts, http, &d).await;
    let (id, attempts) = (d.id, d.attempts + 1);
    let now = now_ms();
    let recorded = match result {
        Ok(()) => store_write(store, move |c| topics::delivered(c, id, now)).await,
        Err(e) => {
            let retry = retry_at(now, attempts);
            tracing::info!(delivery = id, attempts, error = %e, gave_up = retry.is_none(), "sns delivery failed");
            store_write(store, move |c| topics::attempt_failed(c, id, &e, retry)).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(delivery = id, error = %e.message, "sns delivery not recorded");
    }
}

async fn deliver(
    store: &Store,
    opts: &SnsOptions,
    http: &reqwest::Client,
    d: &Delivery,
) -> Result<(), String> {
    let sub = &d.subscription;
    match sub.protocol.as_str() {
        "sqs" => to_queue(store, d).await,
        "http" | "https" => {
            let (o, tenant, url) = (opts.clone(), sub.tenant_id, sub.endpoint.clone());
            let allowed = store_read(store, move |c| o.allows(c, tenant, &url))
                .await
                .map_err(|e| e.message)?;
            if !allowed {
                return Err(format!("{} is no longer allowed", sub.endpoint));
            }
            to_http(http, d).await
        }
        "email" | "email-json" => match &opts.smtp_relay {
            Some(relay) => tokio::time::timeout(ATTEMPT_TIMEOUT, to_mail(relay, d))
                .await
                .map_err(|_| "the SMTP relay timed out".to_string())?,
            None => Err("no SMTP relay is set".into()),
        },
        other => Err(format!("protocol {other} is not delivered")),
    }
}

fn region_of(topic_arn: &str) -> &str {
    topic_arn.split(':').nth(3).unwrap_or("us-east-1")
}

/// The subscription's ARN, in the region the message was published to.
pub fn subscription_arn(d: &Delivery) -> String {
    let topic = &d.message.topic_arn;
    let account = topic.split(':').nth(4).unwrap_or_default();
    format!(
        "arn:aws:sns:{}:{account}:{}:{}",
        region_of(topic),
        d.subscription.topic_name,
        d.subscription.uuid
    )
}

fn timestamp(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// SNS's JSON notification envelope. Sandflow does not sign notifications, so Signature and
/// SigningCertURL are absent.
pub fn envelope(d: &Delivery) -> Value {
    let m = &d.message;
    let mut e = Map::new();
    e.insert("Type".into(), json!("Notification"));
    e.insert("MessageId".into(), json!(m.message_id));
    e.insert("TopicArn".into(), json!(m.topic_arn));
    if let Some(s) = &m.subject {
        e.insert("Subject".into(), json!(s));
    }
    e.insert("Message".into(), json!(m.message));
    e.insert("Timestamp".into(), json!(timestamp(m.created_ms)));
    e.insert("SignatureVersion".into(), json!("1"));
    let attrs: Value = serde_json::from_str(&m.attributes).unwrap_or(Value::Null);
    if let Value::Object(attrs) = attrs
        && !attrs.is_empty()
    {
        // The envelope's form: {"Type": DataType, "Value": the string or base64 value}.
        let shown: Map<String, Value> = attrs
            .into_iter()
            .map(|(k, v)| {
                let value = v
                    .get("StringValue")
                    .or_else(|| v.get("BinaryValue"))
                    .cloned()
                    .unwrap_or(Value::Null);
                (k, json!({"Type": v.get("DataType").cloned().unwrap_or(Value::Null), "Value": value}))
            })
            .collect();
        e.insert("MessageAttributes".into(), Value::Object(shown));
    }
    Value::Object(e)
}

async fn to_queue(store: &Store, d: &Delivery) -> Result<(), String> {
    let parts: Vec<&str> = d.subscription.endpoint.split(':').collect();
    let ["arn", _, "sqs", region, account, name] = parts.as_slice() else {
        return Err(format!("{} is not a queue ARN", d.subscription.endpoint));
    };
    let caller = Caller {
        tenant_id: d.subscription.tenant_id,
        account: account.to_string(),
        region: region.to_string(),
    };
    let mut p = Map::new();
    p.insert(
        "QueueUrl".into(),
        json!(format!("http://localhost/{account}/{name}")),
    );
    if d.subscription.raw() {
        p.insert("MessageBody".into(), json!(d.message.message));
        if let Ok(Value::Object(attrs)) = serde_json::from_str::<Value>(&d.message.attributes)
            && !attrs.is_empty()
        {
            p.insert("MessageAttributes".into(), Value::Object(attrs));
        }
    } else {
        p.insert("MessageBody".into(), json!(envelope(d).to_string()));
    }
    sqs::call(store, caller, "localhost".into(), "SendMessage", p)
        .await
        .map(drop)
        .map_err(|e| format!("{}: {}", e.kind, e.message))
}

async fn to_http(http: &reqwest::Client, d: &Delivery) -> Result<(), String> {
    let raw = d.subscription.raw();
    let body = if raw {
        d.message.message.clone()
    } else {
        envelope(d).to_string()
    };
    let mut req = http
        .post(&d.subscription.endpoint)
        .header("content-type", "text/plain; charset=UTF-8")
        .header("user-agent", "Amazon Simple Notification Service Agent")
        .header("x-amz-sns-message-type", "Notification")
        .header("x-amz-sns-message-id", &d.message.message_id)
        .header("x-amz-sns-topic-arn", &d.message.topic_arn)
        .header("x-amz-sns-subscription-arn", subscription_arn(d));
    if raw {
        req = req.header("x-amz-sns-rawdelivery", "true");
    }
    let r = req.body(body).send().await.map_err(|e| dns::describe(&e))?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!("the endpoint answered {}", r.status()))
    }
}

/// The mail for an email (the message) or email-json (the envelope) subscription.
pub fn mail(d: &Delivery) -> String {
    let m = &d.message;
    // A header line: no control characters (the ASL integration does not check Subject).
    let subject: String = m
        .subject
        .as_deref()
        .unwrap_or("AWS Notification Message")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = if d.subscription.protocol == "email-json" {
        envelope(d).to_string()
    } else {
        m.message.clone()
    };
    let encoded = STANDARD.encode(text.as_bytes());
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    let date = chrono::DateTime::from_timestamp_millis(m.created_ms)
        .unwrap_or_default()
        .to_rfc2822();
    format!(
        "From: {MAIL_FROM}\r\nTo: {}\r\nSubject: {}\r\nDate: {date}\r\nMessage-ID: <{}@sns.sandflow.localhost>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\
         x-amz-sns-message-id: {}\r\nx-amz-sns-topic-arn: {}\r\n\r\n{}\r\n",
        d.subscription.endpoint,
        subject,
        m.message_id,
        m.message_id,
        m.topic_arn,
        lines.join("\r\n")
    )
}

/// Sends one mail through the relay: a minimal SMTP session (EHLO, MAIL, RCPT, DATA, QUIT)
/// without TLS or authentication, for a local relay.
async fn to_mail(relay: &str, d: &Delivery) -> Result<(), String> {
    let stream = TcpStream::connect(relay)
        .await
        .map_err(|e| format!("cannot reach the SMTP relay {relay}: {e}"))?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    expect(&mut read, 220).await?;
    let steps = [
        ("EHLO sandflow\r\n".to_string(), 250),
        (format!("MAIL FROM:<{MAIL_FROM}>\r\n"), 250),
        (format!("RCPT TO:<{}>\r\n", d.subscription.endpoint), 250),
        ("DATA\r\n".to_string(), 354),
    ];
    for (line, code) in steps {
        write
            .write_all(line.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        expect(&mut read, code).await?;
    }
    // The mail's lines are base64 or headers, so none starts with a dot.
    write
        .write_all(format!("{}.\r\n", mail(d)).as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    expect(&mut read, 250).await?;
    let _ = write.write_all(b"QUIT\r\n").await;
    Ok(())
}

/// Reads one (possibly multi-line) SMTP reply; it must have `code` (2xx also accepts 251).
async fn expect(
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    code: u16,
) -> Result<(), String> {
    loop {
        let mut line = String::new();
        let n = read.read_line(&mut line).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the SMTP relay closed the connection".into());
        }
        let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        if line.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        return if got == code || (code == 250 && got == 251) {
            Ok(())
        } else {
            Err(format!("the SMTP relay answered {}", line.trim_end()))
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_gives_up() {
        assert_eq!(retry_at(0, 1), Some(1_000));
        assert_eq!(retry_at(0, 2), Some(2_000));
        assert_eq!(retry_at(0, 7), Some(64_000));
        assert_eq!(retry_at(0, MAX_ATTEMPTS), None);
    }
}
