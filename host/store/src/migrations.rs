//! Embedded, versioned schema migrations. `PRAGMA user_version` records how many have run; each
//! runs once, in order, in its own transaction. Never edit a released migration: add one.

use rusqlite::Connection;

use crate::Result;

/// Migration N (1-based) brings the schema from version N-1 to N.
const MIGRATIONS: &[&str] = &[
    // 1: tenants, definitions, executions with their history, timers, tasks, activities,
    //    functions, tags, KV items, queue messages, usage.
    r#"
    CREATE TABLE tenants (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        account_id  TEXT NOT NULL UNIQUE,
        created_ms  INTEGER NOT NULL
    );
    CREATE TABLE access_keys (
        access_key_id TEXT PRIMARY KEY,
        tenant_id     INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        secret        BLOB NOT NULL,
        created_ms    INTEGER NOT NULL
    );
    CREATE INDEX access_keys_by_tenant ON access_keys(tenant_id);

    CREATE TABLE state_machines (
        tenant_id    INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name         TEXT NOT NULL,
        arn          TEXT NOT NULL UNIQUE,
        type         TEXT NOT NULL,
        definition   TEXT NOT NULL,
        role_arn     TEXT NOT NULL,
        revision_id  TEXT NOT NULL,
        config       TEXT NOT NULL DEFAULT '{}',
        created_ms   INTEGER NOT NULL,
        updated_ms   INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, name)
    );
    CREATE TABLE state_machine_versions (
        tenant_id    INTEGER NOT NULL,
        name         TEXT NOT NULL,
        version      INTEGER NOT NULL,
        definition   TEXT NOT NULL,
        role_arn     TEXT NOT NULL,
        revision_id  TEXT NOT NULL,
        description  TEXT,
        created_ms   INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, name, version),
        FOREIGN KEY (tenant_id, name) REFERENCES state_machines(tenant_id, name) ON DELETE CASCADE
    );

    CREATE TABLE executions (
        id                 INTEGER PRIMARY KEY,
        tenant_id          INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        arn                TEXT NOT NULL UNIQUE,
        state_machine_arn  TEXT NOT NULL,
        name               TEXT NOT NULL,
        type               TEXT NOT NULL,
        definition         TEXT NOT NULL,
        status             TEXT NOT NULL,
        input              TEXT NOT NULL,
        output             TEXT,
        error              TEXT,
        cause              TEXT,
        start_ms           INTEGER NOT NULL,
        stop_ms            INTEGER,
        snapshot           BLOB,
        next_seq           INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX executions_by_machine ON executions(tenant_id, state_machine_arn, start_ms DESC);
    CREATE INDEX executions_by_tenant ON executions(tenant_id, start_ms DESC);
    CREATE INDEX executions_open ON executions(status) WHERE status = 'RUNNING';

    -- One row per committed step: the input event and the AWS history events it produced.
    CREATE TABLE steps (
        execution_id    INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
        seq             INTEGER NOT NULL,
        event           TEXT NOT NULL,
        first_event_id  INTEGER NOT NULL,
        event_count     INTEGER NOT NULL,
        history         TEXT NOT NULL,
        PRIMARY KEY (execution_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE timers (
        execution_id  INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
        timer_id      INTEGER NOT NULL,
        fire_ms       INTEGER NOT NULL,
        PRIMARY KEY (execution_id, timer_id)
    ) WITHOUT ROWID;
    CREATE INDEX timers_due ON timers(fire_ms);

    -- The outbox of scheduled tasks: a row lives from scheduling until its outcome commits.
    CREATE TABLE tasks (
        execution_id  INTEGER NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
        task_id       INTEGER NOT NULL,
        call          TEXT NOT NULL,
        token         TEXT UNIQUE,
        activity_arn  TEXT,
        started       INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (execution_id, task_id)
    );
    CREATE INDEX tasks_by_activity ON tasks(activity_arn, started) WHERE activity_arn IS NOT NULL;

    CREATE TABLE activities (
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        arn         TEXT NOT NULL UNIQUE,
        created_ms  INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, name)
    );

    CREATE TABLE functions (
        tenant_id    INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name         TEXT NOT NULL,
        arn          TEXT NOT NULL UNIQUE,
        abi          TEXT NOT NULL,
        sha256       TEXT NOT NULL,
        code         BLOB NOT NULL,
        memory_mib   INTEGER NOT NULL,
        timeout_s    INTEGER NOT NULL,
        grants       TEXT NOT NULL DEFAULT '{}',
        revision_id  TEXT NOT NULL,
        created_ms   INTEGER NOT NULL,
        updated_ms   INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, name)
    );

    CREATE TABLE tags (
        tenant_id     INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        resource_arn  TEXT NOT NULL,
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        PRIMARY KEY (tenant_id, resource_arn, key)
    ) WITHOUT ROWID;

    CREATE TABLE kv_items (
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        table_name  TEXT NOT NULL,
        key         TEXT NOT NULL,
        value       BLOB NOT NULL,
        PRIMARY KEY (tenant_id, table_name, key)
    ) WITHOUT ROWID;

    CREATE TABLE queue_messages (
        id             INTEGER PRIMARY KEY,
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        queue          TEXT NOT NULL,
        body           TEXT NOT NULL,
        visible_ms     INTEGER NOT NULL,
        receive_count  INTEGER NOT NULL DEFAULT 0,
        created_ms     INTEGER NOT NULL
    );
    CREATE INDEX queue_messages_visible ON queue_messages(tenant_id, queue, visible_ms, id);

    CREATE TABLE usage (
        tenant_id         INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        day               INTEGER NOT NULL,
        transitions       INTEGER NOT NULL DEFAULT 0,
        task_invocations  INTEGER NOT NULL DEFAULT 0,
        fuel              INTEGER NOT NULL DEFAULT 0,
        task_wall_ms      INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant_id, day)
    ) WITHOUT ROWID;
    "#,
    // 2: per-tenant count of RUNNING executions, kept by `executions` (the quota check reads one
    //    row instead of counting).
    r#"
    CREATE TABLE open_executions (
        tenant_id  INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
        open       INTEGER NOT NULL
    );
    INSERT INTO open_executions (tenant_id, open)
        SELECT tenant_id, count(*) FROM executions WHERE status = 'RUNNING' GROUP BY tenant_id;
    "#,
    // 3: functions' Lambda configuration (description, role, handler, runtime, fuel) as JSON,
    //    and one row per function invocation: outcome, cost and the guest's logs.
    r#"
    ALTER TABLE functions ADD COLUMN config TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE invocations (
        id             INTEGER PRIMARY KEY,
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        function_name  TEXT NOT NULL,
        execution_arn  TEXT,
        task_id        INTEGER,
        started_ms     INTEGER NOT NULL,
        elapsed_us     INTEGER NOT NULL,
        fuel           INTEGER NOT NULL,
        status         TEXT NOT NULL,
        error          TEXT,
        cause          TEXT,
        logs           TEXT NOT NULL
    );
    CREATE INDEX invocations_by_function ON invocations(tenant_id, function_name, id DESC);
    CREATE INDEX invocations_by_execution ON invocations(tenant_id, execution_arn, id)
        WHERE execution_arn IS NOT NULL;
    "#,
    // 4: messages published to tenants' topics (the sns:publish outbox).
    r#"
    CREATE TABLE topic_messages (
        id          INTEGER PRIMARY KEY,
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        topic_arn   TEXT NOT NULL,
        message_id  TEXT NOT NULL,
        subject     TEXT,
        message     TEXT NOT NULL,
        attributes  TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    );
    CREATE INDEX topic_messages_by_topic ON topic_messages(tenant_id, topic_arn, id);
    "#,
    // 5: built-in queues (SQS) and tables (DynamoDB), replacing the unused v1 `kv_items` and
    //    `queue_messages`. Messages and items hang off their queue/table row, which is keyed by
    //    tenant; table items carry their encoded key columns so Query is an index range scan.
    r#"
    DROP TABLE IF EXISTS kv_items;
    DROP TABLE IF EXISTS queue_messages;

    CREATE TABLE queues (
        id          INTEGER PRIMARY KEY,
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        attributes  TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        updated_ms  INTEGER NOT NULL,
        UNIQUE (tenant_id, name)
    );
    CREATE TABLE queue_messages (
        seq               INTEGER PRIMARY KEY AUTOINCREMENT,
        queue_id          INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
        message_id        TEXT NOT NULL,
        body              TEXT NOT NULL,
        md5_body          TEXT NOT NULL,
        attributes        TEXT,
        md5_attributes    TEXT,
        group_id          TEXT,
        dedup_id          TEXT,
        sent_ms           INTEGER NOT NULL,
        visible_ms        INTEGER NOT NULL,
        receive_count     INTEGER NOT NULL DEFAULT 0,
        first_receive_ms  INTEGER,
        receipt           TEXT UNIQUE,
        source_arn        TEXT
    );
    CREATE INDEX queue_messages_visible ON queue_messages(queue_id, visible_ms, seq);
    CREATE INDEX queue_messages_order ON queue_messages(queue_id, seq);
    CREATE TABLE queue_dedup (
        queue_id    INTEGER NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
        dedup_id    TEXT NOT NULL,
        expires_ms  INTEGER NOT NULL,
        message_id  TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        PRIMARY KEY (queue_id, dedup_id)
    ) WITHOUT ROWID;

    CREATE TABLE kv_tables (
        id          INTEGER PRIMARY KEY,
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        pk_name     TEXT NOT NULL,
        pk_type     TEXT NOT NULL,
        sk_name     TEXT,
        sk_type     TEXT,
        definition  TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        UNIQUE (tenant_id, name)
    );
    CREATE TABLE kv_items (
        table_id  INTEGER NOT NULL REFERENCES kv_tables(id) ON DELETE CASCADE,
        pk        BLOB NOT NULL,
        sk        BLOB NOT NULL,
        item      TEXT NOT NULL,
        size      INTEGER NOT NULL,
        PRIMARY KEY (table_id, pk, sk)
    ) WITHOUT ROWID;
    "#,
    // 6: the console's approval decisions (audit): who decided a `.waitForTaskToken` task, when,
    //    how and why. One row per token: a second decision is refused.
    r#"
    CREATE TABLE approval_decisions (
        tenant_id      INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        token          TEXT NOT NULL,
        execution_arn  TEXT NOT NULL,
        state_name     TEXT NOT NULL,
        decision       TEXT NOT NULL,
        comment        TEXT NOT NULL,
        actor          TEXT NOT NULL,
        output         TEXT,
        error          TEXT,
        cause          TEXT,
        decided_ms     INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, token)
    );
    CREATE INDEX approval_decisions_by_execution ON approval_decisions(tenant_id, execution_arn);
    CREATE INDEX approval_decisions_by_time ON approval_decisions(tenant_id, decided_ms DESC);
    "#,
    // 7: connections (EventBridge's shape) holding the credentials HTTP tasks send, sealed;
    //    and the origins each tenant's HTTP tasks may call.
    r#"
    CREATE TABLE connections (
        tenant_id     INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name          TEXT NOT NULL,
        arn           TEXT NOT NULL UNIQUE,
        description   TEXT NOT NULL,
        auth_type     TEXT NOT NULL,
        public        TEXT NOT NULL,
        sealed        BLOB NOT NULL,
        created_ms    INTEGER NOT NULL,
        updated_ms    INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, name)
    );
    CREATE TABLE http_origins (
        tenant_id  INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        origin     TEXT NOT NULL,
        PRIMARY KEY (tenant_id, origin)
    );
    "#,
    // 8: SNS topics per tenant, their subscriptions, and the delivery outbox: one row per
    //    published message and subscription, retried until delivered (or given up), so
    //    delivery is at least once across restarts. `topic_messages` stays the record of what
    //    was published.
    r#"
    CREATE TABLE topics (
        id          INTEGER PRIMARY KEY,
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        attributes  TEXT NOT NULL,
        created_ms  INTEGER NOT NULL,
        UNIQUE (tenant_id, name)
    );
    CREATE TABLE topic_subscriptions (
        id          INTEGER PRIMARY KEY,
        tenant_id   INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        topic_id    INTEGER NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
        uuid        TEXT NOT NULL,
        protocol    TEXT NOT NULL,
        endpoint    TEXT NOT NULL,
        attributes  TEXT NOT NULL,
        pending_confirmation INTEGER NOT NULL DEFAULT 0,
        created_ms  INTEGER NOT NULL,
        UNIQUE (tenant_id, uuid)
    );
    CREATE INDEX topic_subscriptions_by_topic ON topic_subscriptions(topic_id, id);
    CREATE INDEX topic_subscriptions_by_tenant ON topic_subscriptions(tenant_id, id);
    CREATE TABLE topic_deliveries (
        id              INTEGER PRIMARY KEY,
        tenant_id       INTEGER NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
        message_id      INTEGER NOT NULL REFERENCES topic_messages(id) ON DELETE CASCADE,
        subscription_id INTEGER NOT NULL REFERENCES topic_subscriptions(id) ON DELETE CASCADE,
        state           TEXT NOT NULL DEFAULT 'pending',
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        last_error      TEXT,
        delivered_ms    INTEGER
    );
    CREATE INDEX topic_deliveries_due ON topic_deliveries(state, next_attempt_ms);
    CREATE INDEX topic_deliveries_by_message ON topic_deliveries(message_id);
    CREATE INDEX topic_deliveries_by_subscription ON topic_deliveries(subscription_id);
    "#,
    // 9: which state and which `*Scheduled` history event an invocation ran for, so a task's
    //    logs can be shown next to its event.
    r#"
    ALTER TABLE invocations ADD COLUMN state_name TEXT;
    ALTER TABLE invocations ADD COLUMN event_id INTEGER;
    "#,
    // 10: per-tenant quota overrides (NULL: the server's default).
    r#"
    CREATE TABLE tenant_quotas (
        tenant_id          INTEGER PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
        open_executions    INTEGER,
        starts_per_second  REAL,
        start_burst        REAL,
        task_concurrency   INTEGER,
        fuel_per_second    REAL,
        fuel_burst         REAL
    );
    "#,
    // 11: state machine aliases: a name routing executions to one or two versions by weight.
    r#"
    CREATE TABLE state_machine_aliases (
        tenant_id    INTEGER NOT NULL,
        machine      TEXT NOT NULL,
        name         TEXT NOT NULL,
        description  TEXT,
        routing      TEXT NOT NULL,
        created_ms   INTEGER NOT NULL,
        updated_ms   INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, machine, name),
        FOREIGN KEY (tenant_id, machine) REFERENCES state_machines(tenant_id, name) ON DELETE CASCADE
    );
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

pub fn migrate(conn: &mut Connection) -> Result<()> {
    let current: usize =
        conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))? as usize;
    if current > SCHEMA_VERSION {
        return Err(crate::Error::Corrupt(format!(
            "the database has schema version {current}, newer than this build's {SCHEMA_VERSION}"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer_databases() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        migrate(&mut c).unwrap();
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, SCHEMA_VERSION);
        c.pragma_update(None, "user_version", 999).unwrap();
        assert!(matches!(migrate(&mut c), Err(crate::Error::Corrupt(_))));
    }
}
