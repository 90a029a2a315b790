//! Tagging actions on state machines and activities: TagResource, UntagResource,
//! ListTagsForResource. A resource that does not exist for the caller is ResourceNotFound.

use std::collections::HashSet;

use sandflow_store::tags as tag_rows;
use serde_json::{Value, json};

use super::machines::MAX_TAGS;
use super::{Ctx, parse_arn};
use crate::api::errors::{ApiError, ApiResult};
use crate::api::params::Params;

/// Checks the resource exists for the caller.
async fn resource(ctx: &Ctx, arn: &str) -> ApiResult<()> {
    let a = parse_arn(arn, &["stateMachine", "activity"])?;
    let not_found = || {
        ApiError::client("ResourceNotFound", format!("Resource not found: '{arn}'"))
            .with("resourceName", json!(arn))
    };
    let (t, key) = (ctx.tenant(), arn.to_string());
    let exists = match a.kind {
        "stateMachine" => {
            ctx.state
                .read(move |c| Ok(sandflow_store::machines::get(c, t, &key)?.is_some()))
                .await?
        }
        _ => {
            ctx.state
                .read(move |c| Ok(sandflow_store::activities::get(c, t, &key)?.is_some()))
                .await?
        }
    };
    if exists { Ok(()) } else { Err(not_found()) }
}

pub async fn tag(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("resourceArn")?;
    let tags = p.opt_tags("tags")?;
    if tags.is_none() {
        p.missing("tags");
    }
    p.finish()?;
    let tags = tags.unwrap_or_default();
    resource(ctx, &arn).await?;
    let (t, key) = (ctx.tenant(), arn.clone());
    // Counted and written in one write, so concurrent calls cannot pass 50 together.
    let fits = ctx
        .state
        .write(move |c| {
            let existing: HashSet<String> = tag_rows::list(c, t, &key)?
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            let new: HashSet<&String> = tags
                .iter()
                .map(|(k, _)| k)
                .filter(|k| !existing.contains(*k))
                .collect();
            if existing.len() + new.len() > MAX_TAGS {
                return Ok(false);
            }
            tag_rows::put(c, t, &key, &tags)?;
            Ok(true)
        })
        .await?;
    if !fits {
        return Err(ApiError::client(
            "TooManyTags",
            format!("Too many tags: {arn} may have at most {MAX_TAGS} tags"),
        )
        .with("resourceName", json!(arn)));
    }
    Ok(json!({}))
}

pub async fn untag(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("resourceArn")?;
    let keys = p.opt_strings("tagKeys")?;
    if keys.is_none() {
        p.missing("tagKeys");
    }
    p.finish()?;
    resource(ctx, &arn).await?;
    let (t, key, keys) = (ctx.tenant(), arn.clone(), keys.unwrap_or_default());
    ctx.state
        .write(move |c| tag_rows::remove(c, t, &key, &keys))
        .await?;
    Ok(json!({}))
}

pub async fn list(ctx: &Ctx, p: &mut Params) -> ApiResult<Value> {
    let arn = p.arn("resourceArn")?;
    p.finish()?;
    resource(ctx, &arn).await?;
    let (t, key) = (ctx.tenant(), arn.clone());
    let tags = ctx.state.read(move |c| tag_rows::list(c, t, &key)).await?;
    let tags: Vec<Value> = tags
        .into_iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    Ok(json!({ "tags": tags }))
}
