//! State machine actions: Create, Describe, Update, Delete, List, ValidateStateMachineDefinition,
//! and versions: Publish, List, Delete (Describe and StartExecution take a version's ARN).

use sandflow_core::parse::{MachineType, Severity, invalid_definition_message, parse_definition};
use sandflow_store::{machines, tags as tag_rows};
use serde_json::{Map, Value, json};

use super::{
    Ctx, check_name, epoch, machine_arn, machine_or_version, now_ms, page_size, read_token, token,
    uuid,
};
use crate::api::errors::{ApiError, ApiResult};
use crate::api::params::Params;
use crate::aws_json;

/// AWS's definition size limit (characters).
const MAX_DEFINITION: usize = 1_048_576;
pub const MAX_TAGS: usize = 50;
const LOG_LEVELS: &[&str] = &["ALL", "ERROR", "FATAL", "OFF"];

fn machine_type(s: Option<&str>) -> MachineType {
    match s {
        Some("EXPRESS") => MachineType::Express,
        _ => MachineType::Standard,
    }
}

/// Parses the definition; InvalidDefinition with AWS's message if it is not valid.
fn check_definition(definition: &str, ty: MachineType) -> ApiResult<()> {
    parse_definition(definition, ty)
        .map(|_| ())
        .map_err(|d| ApiError::client("InvalidDefinition", invalid_definition_message(&d)))
}

/// IAM role ARNs are not checked against IAM, only for shape.
fn check_role(role: &str) -> ApiResult<()> {
    let p: Vec<&str> = role.split(':').collect();
    if p.len() < 6 || p[0] != "arn" || p[2] != "iam" {
        return Err(ApiError::invalid_arn(role, "Invalid ARN prefix"));
    }
    if !p[5].starts_with("role/") {
        return Err(ApiError::invalid_arn(
            role,
            "Resource type not valid in this context",
        ));
    }
    Ok(())
}

/// Logging and tracing settings as stored (`config` column) with AWS's defaults.
fn config(
    logging: Option<Map<String, Value>>,
    tracing: Option<Map<String, Value>>,
    encryption: Option<Map<String, Value>>,
    old: Option<&Value>,
) -> ApiResult<Value> {
    if let Some(l) = &logging
        && let Some(level) = l.get("level")
        && !level.as_str().is_some_and(|s| LOG_LEVELS.contains(&s))
    {
        return Err(ApiError::client(
            "InvalidLoggingConfiguration",
            format!("Invalid logging level {level}; use one of {LOG_LEVELS:?}"),
        ));
    }
    if let Some(t) = &tracing
        && t.get("enabled").is_some_and(|e| !e.is_boolean())
    {
        return Err(ApiError::client(
            "InvalidTracingConfiguration",
            "tracingConfiguration.enabled must be a boolean",
        ));
    }
    let pick = |new: Option<Map<String, Value>>, key: &str, default: Value| {
        new.map(Value::Object)
            .or_else(|| old.and_then(|o| o.get(key)).cloned())
            .unwrap_or(default)
    };
    let mut c = json!({
        "loggingConfiguration": pick(logging, "loggingConfiguration", json!({"level": "OFF", "includeExecutionData": false})),
        "tracingConfiguration": pick(tracing, "tracingConfiguration", json!({"enabled": false})),
    });
    if let Some(e) = pick(encryption, "encryptionConfiguration", Value::Null).as_object() {
        c["encryptionConfiguration"] = Value::Object(e.clone());
    }
    Ok(c)
}

fn no_machine(arn: &str) -> ApiError {
    ApiError::client(
        "StateMachineDoesNotExist",
        format!("State Machine Does Not Exist: '{arn}'"),
    )
}

/// The tenant's machine by ARN, or StateMachineDoesNotExist.
pub async fn get(ctx: &Ctx, arn: &str) -> ApiResult<machines::StateMachine> {
    machine_arn(arn)?;
    let (t, key) = (ctx.tenant(), arn.to_string());
    ctx.state
        .read(move |c| machines::get(c, t, &key))
        .await?
        .ok_or_else(|| no_machine(arn))
}

/// The tenant's machine, and the version a version ARN names; StateMachineDoesNotExist (or
/// ResourceNotFound for a version) otherwise.
pub async fn resolve(
    ctx: &Ctx,
    arn: &str,
) -> ApiResult<(machines::StateMachine, Option<machines::Version>)> {
    let (base, number) = machine_or_version(arn)?;
    let m = get(ctx, &base).await?;
    let Some(n) = number else {
        return Ok((m, None));
    };
    version_of(ctx, m, n, arn).await
}

/// What Start(Sync)Execution runs for a machine, version or alias ARN: an alias routes to one
/// of its versions by weight.
pub async fn resolve_for_start(
    ctx: &Ctx,
    arn: &str,
) -> ApiResult<(machines::StateMachine, Option<machines::Version>)> {
    let (base, q) = super::qualified_machine(arn)?;
    let super::Qualifier::Alias(alias) = q else {
        return resolve(ctx, arn).await;
    };
    let m = get(ctx, &base).await?;
    let (t, name) = (ctx.tenant(), m.name.clone());
    let a = ctx
        .state
        .read(move |c| machines::get_alias(c, t, &name, &alias))
        .await?
        .ok_or_else(|| {
            ApiError::client(
                "ResourceNotFound",
                format!("State Machine Alias Does Not Exist: '{arn}'"),
            )
        })?;
    let n = super::aliases::route(&a);
    version_of(ctx, m, n, &format!("{base}:{n}")).await
}

async fn version_of(
    ctx: &Ctx,
    m: machines::StateMachine,
    n: i64,
    arn: &str,
) -> ApiResult<(machines::StateMachine, Option<machines::Version>)> {
    let (t, name) = (ctx.tenant(), m.name.clone());
    let v = ctx
        .state
        .read(move |c| machines::get_version(c, t, &name, n))
        .await?
        .ok_or_else(|| no_version(arn))?;
    Ok((m, Some(v)))
}

pub fn no_version(arn: &str) -> ApiError {
    ApiError::client(
        "ResourceNotFound",
        format!("State Machine Version Does Not Exist: '{arn}'"),
    )
    .with("resourceName", json!(arn))
}

/// AWS keeps at most 1,000 versions per state machine.
const MAX_VERSIONS: usize = 1000;

/// PublishStateMachineVersion: the current definition as the next version, unless the latest
/// version already is this revision (then that one, as AWS). A stale `revisionId` conflicts.
pub async fn publish(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("stateMachineArn")?;
    let revision = p.opt_str("revisionId", 1, 256, false)?;
    let description = p.opt_str("description", 0, 256, true)?;
    p.finish()?;
    let m = get(ctx, &arn).await?;
    if let Some(r) = &revision
        && *r != m.revision_id
    {
        return Err(ApiError::client(
            "ConflictException",
            format!(
                "Failed to publish the State Machine version for revision {r}. The current State Machine revision is {}.",
                m.revision_id
            ),
        ));
    }
    let (t, name, base) = (ctx.tenant(), m.name.clone(), m.arn.clone());
    let now = now_ms();
    let published = ctx
        .state
        .write(move |c| {
            let latest = machines::list_versions(c, t, &name, None, MAX_VERSIONS)?;
            if let Some(v) = latest.first()
                && v.revision_id == m.revision_id
            {
                return Ok(Some((v.version, v.created_ms)));
            }
            if latest.len() >= MAX_VERSIONS {
                return Ok(None);
            }
            let n = machines::publish_version(c, t, &base, description.as_deref(), now)?;
            Ok(n.map(|n| (n, now)))
        })
        .await?;
    let Some((n, created)) = published else {
        return Err(ApiError::client(
            "ServiceQuotaExceededException",
            format!("The state machine {arn} has {MAX_VERSIONS} versions, the most it may have"),
        ));
    };
    Ok(json!({"stateMachineVersionArn": format!("{arn}:{n}"), "creationDate": epoch(created)}))
}

/// ListStateMachineVersions, newest first.
pub async fn list_versions(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("stateMachineArn")?;
    let limit = page_size(p, 1000)?;
    let before = read_token(p, "ver", 32)?
        .map(|t| {
            t.parse::<i64>()
                .map_err(|_| ApiError::client("InvalidToken", "Invalid Token"))
        })
        .transpose()?;
    p.finish()?;
    let m = get(ctx, &arn).await?;
    let (t, name) = (ctx.tenant(), m.name.clone());
    let mut rows = ctx
        .state
        .read(move |c| machines::list_versions(c, t, &name, before, limit + 1))
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let items: Vec<Value> = rows
        .iter()
        .map(|v| {
            json!({
                "stateMachineVersionArn": format!("{}:{}", m.arn, v.version),
                "creationDate": epoch(v.created_ms),
            })
        })
        .collect();
    let mut out = json!({ "stateMachineVersions": items });
    if more && let Some(last) = rows.last() {
        out["nextToken"] = json!(token("ver", &last.version.to_string()));
    }
    Ok(out)
}

/// DeleteStateMachineVersion: deleting one that does not exist succeeds, as AWS.
pub async fn delete_version(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("stateMachineVersionArn")?;
    p.finish()?;
    let (base, Some(n)) = machine_or_version(&arn)? else {
        return Err(ApiError::invalid_arn(
            &arn,
            "a state machine version ARN is needed",
        ));
    };
    let (t, name) = (
        ctx.tenant(),
        base.rsplit(':').next().unwrap_or_default().to_string(),
    );
    let referenced = ctx
        .state
        .write(move |c| {
            let aliases = machines::list_aliases(c, t, &name, None, usize::MAX >> 1)?;
            if aliases
                .iter()
                .any(|a| a.routing.iter().any(|(v, _)| *v == n))
            {
                return Ok(true);
            }
            machines::delete_version(c, t, &name, n)?;
            Ok(false)
        })
        .await?;
    if referenced {
        return Err(ApiError::client(
            "ConflictException",
            format!("Version to be deleted must not be referenced by an alias: {arn}"),
        ));
    }
    Ok(json!({}))
}

/// Checks a tag list's size; TooManyTags past AWS's 50.
pub fn check_tag_count(arn: &str, n: usize) -> ApiResult<()> {
    if n > MAX_TAGS {
        return Err(ApiError::client(
            "TooManyTags",
            format!("Too many tags: {arn} may have at most {MAX_TAGS} tags"),
        )
        .with("resourceName", json!(arn)));
    }
    Ok(())
}

pub async fn create(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let name = p.req_str("name", 1, 80, false)?;
    let definition = p.req_str("definition", 1, MAX_DEFINITION, true)?;
    let role = p.arn("roleArn")?;
    let ty = p.opt_enum("type", &["STANDARD", "EXPRESS"])?;
    let logging = p.opt_object("loggingConfiguration")?;
    let tracing = p.opt_object("tracingConfiguration")?;
    let encryption = p.opt_object("encryptionConfiguration")?;
    let tags = p.opt_tags("tags")?.unwrap_or_default();
    let publish = p.opt_bool("publish")?.unwrap_or(false);
    let description = p.opt_str("versionDescription", 0, 256, true)?;
    p.finish()?;
    check_version_description(publish, description.as_deref())?;
    check_name(&name)?;
    check_role(&role)?;
    let ty_text = ty.unwrap_or_else(|| "STANDARD".into());
    check_definition(&definition, machine_type(Some(&ty_text)))?;
    let arn = ctx.arn("stateMachine", &name);
    check_tag_count(&arn, tags.len())?;
    let cfg = config(logging, tracing, encryption, None)?;
    let now = now_ms();
    let m = machines::StateMachine {
        tenant_id: ctx.tenant(),
        name,
        arn: arn.clone(),
        machine_type: ty_text,
        definition,
        role_arn: role,
        revision_id: uuid(),
        config: cfg.to_string(),
        created_ms: now,
        updated_ms: now,
    };
    // One write: an existing machine with the same settings is returned (Create is idempotent
    // on its fields, as AWS); a different one is StateMachineAlreadyExists.
    let created = ctx
        .state
        .write(move |c| {
            if let Some(old) = machines::get(c, m.tenant_id, &m.arn)? {
                let same = old.definition == m.definition
                    && old.role_arn == m.role_arn
                    && old.machine_type == m.machine_type;
                return Ok(same.then_some(old.created_ms));
            }
            machines::insert(c, &m)?;
            tag_rows::put(c, m.tenant_id, &m.arn, &tags)?;
            if publish {
                machines::publish_version(c, m.tenant_id, &m.arn, description.as_deref(), now)?;
            }
            Ok(Some(m.created_ms))
        })
        .await?;
    match created {
        Some(ms) => {
            let mut out = json!({"stateMachineArn": arn, "creationDate": epoch(ms)});
            if publish {
                out["stateMachineVersionArn"] = json!(format!("{arn}:1"));
            }
            Ok(out)
        }
        None => Err(ApiError::client(
            "StateMachineAlreadyExists",
            format!("State Machine Already Exists: '{arn}'"),
        )),
    }
}

fn stored_config(m: &machines::StateMachine) -> Value {
    serde_json::from_str(&m.config).unwrap_or_else(|_| json!({}))
}

pub async fn describe(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("stateMachineArn")?;
    p.opt_bool("includedData")?;
    p.finish()?;
    let (m, version) = resolve(ctx, &arn).await?;
    let mut out = json!({
        "stateMachineArn": m.arn,
        "name": m.name,
        "status": "ACTIVE",
        "definition": m.definition,
        "roleArn": m.role_arn,
        "type": m.machine_type,
        "creationDate": epoch(m.created_ms),
        "revisionId": m.revision_id,
    });
    if let Some(v) = version {
        out["stateMachineArn"] = json!(arn);
        out["definition"] = json!(v.definition);
        out["roleArn"] = json!(v.role_arn);
        out["creationDate"] = epoch(v.created_ms);
        out["revisionId"] = json!(v.revision_id);
        if let Some(d) = v.description {
            out["description"] = json!(d);
        }
    }
    if let Value::Object(cfg) = stored_config(&m) {
        out.as_object_mut().expect("object").extend(cfg);
    }
    Ok(out)
}

/// AWS refuses a version description on a call that publishes no version.
fn check_version_description(publish: bool, description: Option<&str>) -> ApiResult<()> {
    if description.is_some() && !publish {
        return Err(ApiError::validation(
            "Version description can only be set when publish is true",
        ));
    }
    Ok(())
}

pub async fn update(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("stateMachineArn")?;
    let definition = p.opt_str("definition", 1, MAX_DEFINITION, true)?;
    let role = p.opt_str("roleArn", 1, 256, false)?;
    let logging = p.opt_object("loggingConfiguration")?;
    let tracing = p.opt_object("tracingConfiguration")?;
    let encryption = p.opt_object("encryptionConfiguration")?;
    let publish = p.opt_bool("publish")?.unwrap_or(false);
    let description = p.opt_str("versionDescription", 0, 256, true)?;
    p.finish()?;
    check_version_description(publish, description.as_deref())?;
    if definition.is_none()
        && role.is_none()
        && logging.is_none()
        && tracing.is_none()
        && encryption.is_none()
    {
        return Err(ApiError::client(
            "MissingRequiredParameter",
            "Either the definition, the roleArn, the loggingConfiguration, the tracingConfiguration or the encryptionConfiguration must be specified",
        ));
    }
    let mut m = get(ctx, &arn).await?;
    if let Some(r) = &role {
        check_role(r)?;
    }
    if let Some(d) = &definition {
        check_definition(d, machine_type(Some(&m.machine_type)))?;
    }
    let cfg = config(logging, tracing, encryption, Some(&stored_config(&m)))?;
    m.definition = definition.unwrap_or(m.definition);
    m.role_arn = role.unwrap_or(m.role_arn);
    m.config = cfg.to_string();
    m.revision_id = uuid();
    m.updated_ms = now_ms();
    let (date, revision) = (m.updated_ms, m.revision_id.clone());
    let updated = ctx
        .state
        .write(move |c| {
            if !machines::update(c, &m)? {
                return Ok(None);
            }
            match publish {
                true => {
                    machines::publish_version(c, m.tenant_id, &m.arn, description.as_deref(), date)
                }
                false => Ok(Some(0)),
            }
        })
        .await?;
    let Some(version) = updated else {
        return Err(no_machine(&arn));
    };
    let mut out = json!({"updateDate": epoch(date), "revisionId": revision});
    if publish {
        out["stateMachineVersionArn"] = json!(format!("{arn}:{version}"));
    }
    Ok(out)
}

/// Deleting a machine that does not exist succeeds, as AWS. Its executions keep running on
/// the definition they started with.
pub async fn delete(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("stateMachineArn")?;
    p.finish()?;
    machine_arn(&arn)?;
    let t = ctx.tenant();
    ctx.state
        .write(move |c| {
            machines::delete(c, t, &arn)?;
            tag_rows::delete_all(c, t, &arn)
        })
        .await?;
    Ok(json!({}))
}

pub async fn list(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let limit = page_size(p, 1000)?;
    let after = read_token(p, "sm", 1024)?;
    p.finish()?;
    let t = ctx.tenant();
    let mut rows = ctx
        .state
        .read(move |c| machines::list(c, t, after.as_deref(), limit + 1))
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let items: Vec<Value> = rows
        .iter()
        .map(|m| {
            json!({
                "stateMachineArn": m.arn,
                "name": m.name,
                "type": m.machine_type,
                "creationDate": epoch(m.created_ms),
            })
        })
        .collect();
    let mut out = json!({ "stateMachines": items });
    if more && let Some(last) = rows.last() {
        out["nextToken"] = json!(token("sm", &last.name));
    }
    Ok(out)
}

pub fn validate(p: &mut Params) -> ApiResult<Value> {
    let definition = p.req_str("definition", 1, MAX_DEFINITION, true)?;
    let ty = p.opt_enum("type", &["STANDARD", "EXPRESS"])?;
    let severity = p.opt_enum("severity", &["ERROR", "WARNING"])?;
    let max = p.opt_int("maxResults", 0, 100)?;
    p.finish()?;
    let mut diags = match parse_definition(&definition, machine_type(ty.as_deref())) {
        Ok(_) => Vec::new(),
        Err(d) => d,
    };
    let failed = diags.iter().any(|d| d.severity == Severity::Error);
    if severity.as_deref() != Some("WARNING") {
        diags.retain(|d| d.severity == Severity::Error);
    }
    let max = match max {
        None | Some(0) => 100,
        Some(n) => n as usize,
    };
    let truncated = diags.len() > max;
    diags.truncate(max);
    Ok(json!({
        "result": if failed { "FAIL" } else { "OK" },
        "diagnostics": aws_json::diagnostics(&diags),
        "truncated": truncated,
    }))
}
