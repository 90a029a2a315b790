//! A set of states with one `StartAt` (the top level, a Parallel branch, a Map item processor):
//! its fields, its state names, and name -> [`StateId`] resolution within it.

use std::collections::HashMap;

use serde_json::Value;

use super::ctx::{Ctx, Obj};
use super::states::parse_state;
use crate::model::{Scope, StateId};

/// Longest state name AWS accepts, in characters.
const MAX_NAME_LEN: usize = 80;

/// The state names of one scope, for resolving transitions.
pub(super) struct Names {
    index: HashMap<String, StateId>,
}

impl Names {
    fn new<'a>(names: impl Iterator<Item = &'a String>) -> Self {
        Names {
            index: names.enumerate().map(|(i, n)| (n.clone(), i)).collect(),
        }
    }

    /// The index of `name`; unknown names resolve to 0 (the transition pass reports them).
    pub fn resolve(&self, name: &str) -> StateId {
        self.index.get(name).copied().unwrap_or(0)
    }
}

/// Unsupported and missing fields of a scope object.
pub(super) fn check_header(ctx: &mut Ctx<'_>, obj: &Obj<'_>, allowed: &[&str]) {
    obj.allow(ctx, allowed);
    obj.require(ctx, &["States", "StartAt"]);
    obj.string(ctx, "Comment");
}

/// A nested scope: header checks, then its states.
pub(super) fn parse_scope(ctx: &mut Ctx<'_>, obj: &Obj<'_>, allowed: &[&str]) -> Option<Scope> {
    check_header(ctx, obj, allowed);
    parse_states(ctx, obj)
}

/// `StartAt` and `States`; `None` when anything in them is wrong.
pub(super) fn parse_states(ctx: &mut Ctx<'_>, obj: &Obj<'_>) -> Option<Scope> {
    let start_at = obj.string(ctx, "StartAt");
    let states = obj.object(ctx, "States")?;
    let names = Names::new(states.map.keys());
    let mut parsed = Vec::with_capacity(states.map.len());
    let mut ok = true;
    for (name, value) in states.map {
        let loc = states.field_loc(name);
        check_name(ctx, name, &loc);
        let Value::Object(m) = value else {
            ctx.schema("Expected value of type Object", loc);
            ok = false;
            continue;
        };
        match parse_state(ctx, name, &Obj::new(m, loc), &names) {
            Some(s) => parsed.push(s),
            None => ok = false,
        }
    }
    let start_at = names.resolve(start_at?);
    ok.then_some(Scope {
        start_at,
        states: parsed,
    })
}

fn check_name(ctx: &mut Ctx<'_>, name: &str, loc: &str) {
    let len = name.chars().count();
    if len == 0 {
        ctx.error(
            "INVALID_STATE_NAME",
            "State name cannot be empty",
            Some(loc.to_string()),
        );
    } else if len > MAX_NAME_LEN {
        ctx.error(
            "INVALID_STATE_NAME",
            format!("State name cannot be longer than {MAX_NAME_LEN} characters"),
            Some(loc.to_string()),
        );
    }
}
