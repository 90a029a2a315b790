//! Activity actions: Create (idempotent by name), Describe, Delete, List, GetActivityTask.

use sandflow_store::{activities, tags as tag_rows};
use serde_json::{Value, json};

use super::machines::check_tag_count;
use super::{
    Ctx, check_name, engine_error, epoch, now_ms, page_size, parse_arn, read_token, token,
};
use crate::api::errors::{ApiError, ApiResult};
use crate::api::params::Params;

fn activity_arn(arn: &str) -> ApiResult<()> {
    let a = parse_arn(arn, &["activity"])?;
    if a.rest.len() != 1 || a.rest[0].is_empty() {
        return Err(ApiError::invalid_arn(arn, "Invalid ARN"));
    }
    Ok(())
}

/// The tenant's activity, or ActivityDoesNotExist.
pub async fn get(ctx: &Ctx, arn: &str) -> ApiResult<activities::Activity> {
    activity_arn(arn)?;
    let (t, key) = (ctx.tenant(), arn.to_string());
    ctx.state
        .read(move |c| activities::get(c, t, &key))
        .await?
        .ok_or_else(|| {
            ApiError::client(
                "ActivityDoesNotExist",
                format!("Activity Does Not Exist: '{arn}'"),
            )
        })
}

pub async fn create(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let name = p.req_str("name", 1, 80, false)?;
    let tags = p.opt_tags("tags")?.unwrap_or_default();
    p.opt_object("encryptionConfiguration")?;
    p.finish()?;
    check_name(&name)?;
    let arn = ctx.arn("activity", &name);
    check_tag_count(&arn, tags.len())?;
    let a = activities::Activity {
        tenant_id: ctx.tenant(),
        name,
        arn,
        created_ms: now_ms(),
    };
    let a = ctx
        .state
        .write(move |c| {
            let a = activities::create(c, &a)?;
            tag_rows::put(c, a.tenant_id, &a.arn, &tags)?;
            Ok(a)
        })
        .await?;
    Ok(json!({"activityArn": a.arn, "creationDate": epoch(a.created_ms)}))
}

pub async fn describe(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("activityArn")?;
    p.finish()?;
    let a = get(ctx, &arn).await?;
    Ok(json!({"activityArn": a.arn, "name": a.name, "creationDate": epoch(a.created_ms)}))
}

/// Deleting an activity that does not exist succeeds, as AWS.
pub async fn delete(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("activityArn")?;
    p.finish()?;
    activity_arn(&arn)?;
    let t = ctx.tenant();
    ctx.state
        .write(move |c| {
            activities::delete(c, t, &arn)?;
            tag_rows::delete_all(c, t, &arn)
        })
        .await?;
    Ok(json!({}))
}

pub async fn list(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let limit = page_size(p, 1000)?;
    let after = read_token(p, "ac", 1024)?;
    p.finish()?;
    let t = ctx.tenant();
    let mut rows = ctx
        .state
        .read(move |c| activities::list(c, t, after.as_deref(), limit + 1))
        .await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let items: Vec<Value> = rows
        .iter()
        .map(|a| json!({"activityArn": a.arn, "name": a.name, "creationDate": epoch(a.created_ms)}))
        .collect();
    let mut out = json!({ "activities": items });
    if more && let Some(last) = rows.last() {
        out["nextToken"] = json!(token("ac", &last.name));
    }
    Ok(out)
}

/// Long-polls for the activity's oldest waiting task; `{}` when none came in time.
pub async fn get_task(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("activityArn")?;
    let worker = p.opt_str("workerName", 1, 80, false)?;
    p.finish()?;
    get(ctx, &arn).await?;
    let task = ctx
        .state
        .engine()
        .get_activity_task(
            ctx.tenant(),
            &arn,
            worker.as_deref(),
            ctx.state.activity_poll(),
        )
        .await
        .map_err(engine_error)?;
    Ok(match task {
        Some((token, input)) => json!({"taskToken": token, "input": input}),
        None => json!({}),
    })
}
