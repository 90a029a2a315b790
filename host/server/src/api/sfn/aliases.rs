//! State machine aliases: Create, Describe, Update, Delete, List. An alias routes executions
//! started with its ARN to one or two of the machine's versions by weight.

use sandflow_store::machines::{self, Alias};
use serde_json::{Value, json};

use super::machines::{get as get_machine, no_version};
use super::{Ctx, Qualifier, epoch, now_ms, page_size, qualified_machine, read_token, token};
use crate::api::errors::{ApiError, ApiResult};
use crate::api::params::Params;

fn no_alias(arn: &str) -> ApiError {
    ApiError::client(
        "ResourceNotFound",
        format!("State Machine Alias Does Not Exist: '{arn}'"),
    )
    .with("resourceName", json!(arn))
}

/// An alias ARN: the machine's ARN, the machine's name and the alias name.
fn alias_arn(arn: &str) -> ApiResult<(String, String, String)> {
    match qualified_machine(arn)? {
        (base, Qualifier::Alias(name)) => {
            let machine = base.rsplit(':').next().unwrap_or_default().to_string();
            Ok((base, machine, name))
        }
        _ => Err(ApiError::invalid_arn(arn, "Invalid alias ARN")),
    }
}

/// AWS's alias names: letters, digits, `-`, `_`, `.`, with at least one non-digit (so an
/// alias never reads as a version number).
fn check_alias_name(name: &str) -> ApiResult<()> {
    let ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.chars().any(|c| !c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ApiError::client(
            "InvalidName",
            format!("Invalid Name: '{name}'"),
        ))
    }
}

/// `routingConfiguration`: one or two distinct versions of `machine_arn`, each existing,
/// weights 0-100 summing to 100.
async fn routing(ctx: &Ctx, machine_arn: &str, items: Vec<Value>) -> ApiResult<Vec<(i64, u32)>> {
    if items.is_empty() || items.len() > 2 {
        return Err(ApiError::validation(
            "Routing configuration must contain one or two versions",
        ));
    }
    let m = get_machine(ctx, machine_arn).await?;
    let mut out = Vec::new();
    for item in items {
        let version_arn = item["stateMachineVersionArn"].as_str().unwrap_or_default();
        let weight = item["weight"]
            .as_u64()
            .filter(|w| *w <= 100)
            .ok_or_else(|| ApiError::validation("Each routing weight must be 0 to 100"))?;
        let n = match qualified_machine(version_arn)? {
            (base, Qualifier::Version(n)) if base == m.arn => n,
            _ => {
                return Err(ApiError::validation(format!(
                    "'{version_arn}' is not a version of {}",
                    m.arn
                )));
            }
        };
        let (t, name) = (ctx.tenant(), m.name.clone());
        let exists = ctx
            .state
            .read(move |c| machines::get_version(c, t, &name, n))
            .await?
            .is_some();
        if !exists {
            return Err(no_version(version_arn));
        }
        out.push((n, weight as u32));
    }
    if out.len() == 2 && out[0].0 == out[1].0 {
        return Err(ApiError::validation(
            "Routing configuration must name two different versions",
        ));
    }
    if out.iter().map(|(_, w)| w).sum::<u32>() != 100 {
        return Err(ApiError::validation(
            "The routing weights must add up to 100",
        ));
    }
    Ok(out)
}

fn routing_json(machine_arn: &str, routing: &[(i64, u32)]) -> Value {
    json!(
        routing
            .iter()
            .map(|(n, w)| json!({"stateMachineVersionArn": format!("{machine_arn}:{n}"), "weight": w}))
            .collect::<Vec<_>>()
    )
}

/// Creating an alias that exists with the same settings answers it again, as AWS; with other
/// settings it is a ConflictException.
pub async fn create(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let name = p.req_str("name", 1, 80, false)?;
    let description = p.opt_str("description", 0, 256, true)?;
    let items = p.opt_list("routingConfiguration")?.unwrap_or_default();
    p.finish()?;
    check_alias_name(&name)?;
    let version_arn = items
        .first()
        .and_then(|i| i["stateMachineVersionArn"].as_str())
        .unwrap_or_default()
        .to_string();
    let (machine_arn, _) = qualified_machine(&version_arn)?;
    let routing = routing(ctx, &machine_arn, items).await?;
    let m = get_machine(ctx, &machine_arn).await?;
    let arn = format!("{machine_arn}:{name}");
    let now = now_ms();
    let a = Alias {
        machine: m.name,
        name,
        description,
        routing,
        created_ms: now,
        updated_ms: now,
    };
    let t = ctx.tenant();
    let created = ctx
        .state
        .write(move |c| {
            if let Some(old) = machines::get_alias(c, t, &a.machine, &a.name)? {
                let same = old.routing == a.routing && old.description == a.description;
                return Ok(same.then_some(old.created_ms));
            }
            machines::put_alias(c, t, &a)?;
            Ok(Some(a.created_ms))
        })
        .await?;
    match created {
        Some(ms) => Ok(json!({"stateMachineAliasArn": arn, "creationDate": epoch(ms)})),
        None => Err(ApiError::client(
            "ConflictException",
            format!(
                "Failed to create alias because an alias with the same name and a different routing configuration already exists: {arn}"
            ),
        )),
    }
}

/// The tenant's alias by ARN, or ResourceNotFound.
async fn get(ctx: &Ctx, arn: &str) -> ApiResult<Alias> {
    let (_, machine, name) = alias_arn(arn)?;
    let t = ctx.tenant();
    ctx.state
        .read(move |c| machines::get_alias(c, t, &machine, &name))
        .await?
        .ok_or_else(|| no_alias(arn))
}

pub async fn describe(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("stateMachineAliasArn")?;
    p.finish()?;
    let a = get(ctx, &arn).await?;
    let (machine_arn, _, _) = alias_arn(&arn)?;
    let mut out = json!({
        "stateMachineAliasArn": arn,
        "name": a.name,
        "routingConfiguration": routing_json(&machine_arn, &a.routing),
        "creationDate": epoch(a.created_ms),
        "updateDate": epoch(a.updated_ms),
    });
    if let Some(d) = a.description {
        out["description"] = json!(d);
    }
    Ok(out)
}

pub async fn update(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("stateMachineAliasArn")?;
    let description = p.opt_str("description", 0, 256, true)?;
    let items = p.opt_list("routingConfiguration")?;
    p.finish()?;
    if description.is_none() && items.is_none() {
        return Err(ApiError::validation(
            "Either the description or the routingConfiguration must be specified",
        ));
    }
    let mut a = get(ctx, &arn).await?;
    let (machine_arn, _, _) = alias_arn(&arn)?;
    if let Some(items) = items {
        a.routing = routing(ctx, &machine_arn, items).await?;
    }
    if description.is_some() {
        a.description = description;
    }
    a.updated_ms = now_ms();
    let (t, date) = (ctx.tenant(), a.updated_ms);
    ctx.state
        .write(move |c| machines::put_alias(c, t, &a))
        .await?;
    Ok(json!({"updateDate": epoch(date)}))
}

/// Deleting an alias that does not exist succeeds, as AWS.
pub async fn delete(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("stateMachineAliasArn")?;
    p.finish()?;
    let (_, machine, name) = alias_arn(&arn)?;
    let t = ctx.tenant();
    ctx.state
        .write(move |c| machines::delete_alias(c, t, &machine, &name).map(drop))
        .await?;
    Ok(json!({}))
}

pub async fn list(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("stateMachineArn")?;
    let limit = page_size(p, 1000)?;
    let after = read_token(p, "alias", 128)?;
    p.finish()?;
    let m = get_machine(ctx, &arn).await?;
    let (t, name) = (ctx.tenant(), m.name.clone());
    let mut rows = ctx
        .state
        .read(move |c| machines::list_aliases(c, t, &name, after.as_deref(), limit + 1))
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let items: Vec<Value> = rows
        .iter()
        .map(|a| {
            json!({
                "stateMachineAliasArn": format!("{}:{}", m.arn, a.name),
                "creationDate": epoch(a.created_ms),
            })
        })
        .collect();
    let mut out = json!({ "stateMachineAliases": items });
    if more && let Some(last) = rows.last() {
        out["nextToken"] = json!(token("alias", &last.name));
    }
    Ok(out)
}

/// The version an execution started with the alias runs: by weight, at random.
pub fn route(a: &Alias) -> i64 {
    let mut b = [0u8; 8];
    crate::tenancy::random(&mut b);
    let roll = (u64::from_le_bytes(b) % 100) as u32;
    let mut acc = 0;
    for (n, w) in &a.routing {
        acc += w;
        if roll < acc {
            return *n;
        }
    }
    a.routing.last().map_or(0, |(n, _)| *n)
}
