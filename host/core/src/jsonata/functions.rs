//! The functions Step Functions adds to JSONata (`$partition`, `$range`, `$hash`, `$random`,
//! `$uuid`, `$parse`), `$eval` disabled, and the built-ins that would read the clock or real
//! entropy (`$now`, `$millis`, `$random`, `$shuffle`) replaced by the execution's time and Rng, so
//! replaying an execution gives the same values.

use std::cell::RefCell;
use std::rc::Rc;

use super::value::to_jvalue;
use crate::expr::intrinsics::hex_digest;
use crate::rng::Rng;
use chrono::{DateTime, SecondsFormat, Utc};
use jsonata_core::evaluator::{Evaluator, EvaluatorError};
use jsonata_core::value::JValue;

/// What the functions draw on: the execution's randomness and its current time.
#[derive(Clone)]
pub(super) struct Host {
    pub rng: Rc<RefCell<Rng>>,
    pub now: DateTime<Utc>,
    /// Longest array `$range` may build.
    pub max_range: usize,
}

fn err(code: &str, msg: impl std::fmt::Display) -> EvaluatorError {
    EvaluatorError::EvaluationError(format!("{code}: {msg}"))
}

fn signature_error(name: &str, index: usize) -> EvaluatorError {
    err(
        "T0410",
        format!("Argument {index} of function \"{name}\" does not match function signature"),
    )
}

fn arg(args: &[JValue], i: usize) -> &JValue {
    args.get(i).unwrap_or(&JValue::Undefined)
}

/// A numeric argument rounded towards zero, as AWS does for these functions.
fn int_arg(name: &str, args: &[JValue], i: usize) -> Result<Option<i64>, EvaluatorError> {
    match arg(args, i) {
        JValue::Undefined => Ok(None),
        JValue::Number(n) if n.is_finite() => Ok(Some(n.trunc() as i64)),
        _ => Err(signature_error(name, i + 1)),
    }
}

fn no_args(name: &str, args: &[JValue]) -> Result<(), EvaluatorError> {
    if args.iter().any(|a| !a.is_undefined()) {
        return Err(err(
            "T0410",
            format!("Function \"{name}\" takes no arguments"),
        ));
    }
    Ok(())
}

pub(super) fn partition(args: &[JValue]) -> Result<JValue, EvaluatorError> {
    let items: Vec<JValue> = match arg(args, 0) {
        JValue::Undefined => return Ok(JValue::Undefined),
        JValue::Array(a) => a.to_vec(),
        other => vec![other.clone()],
    };
    let Some(size) = int_arg("partition", args, 1)? else {
        return Err(signature_error("partition", 2));
    };
    if size <= 0 || items.is_empty() {
        return Ok(JValue::Undefined);
    }
    let chunks = items
        .chunks(size as usize)
        .map(|c| JValue::array(c.to_vec()))
        .collect();
    Ok(JValue::array(chunks))
}

pub(super) fn range(args: &[JValue], max: usize) -> Result<JValue, EvaluatorError> {
    let (Some(start), Some(end)) = (int_arg("range", args, 0)?, int_arg("range", args, 1)?) else {
        return Err(signature_error("range", 1));
    };
    let Some(step) = int_arg("range", args, 2)? else {
        return Ok(JValue::Undefined);
    };
    if step == 0 || (end > start && step < 0) || (end < start && step > 0) {
        return Ok(JValue::Undefined);
    }
    let count = (end as i128 - start as i128) / step as i128 + 1;
    if count as u128 > max as u128 {
        return Err(err(
            "D2014",
            format!("The $range function would produce {count} elements, more than {max}"),
        ));
    }
    let values: Vec<JValue> = (0..count as i64)
        .map(|i| JValue::from(start + i * step))
        .collect();
    // AWS answers a one-element range with the bare number.
    Ok(match values.len() {
        1 => values.into_iter().next().unwrap_or(JValue::Undefined),
        _ => JValue::array(values),
    })
}

pub(super) fn hash(args: &[JValue]) -> Result<JValue, EvaluatorError> {
    let data = match arg(args, 0) {
        JValue::Undefined => return Ok(JValue::Undefined),
        JValue::String(s) => s.clone(),
        _ => return Err(signature_error("hash", 1)),
    };
    let algorithm = match arg(args, 1) {
        JValue::Undefined => return Ok(JValue::Undefined),
        JValue::String(s) => s.clone(),
        _ => return Err(signature_error("hash", 2)),
    };
    let Some(digest) = hex_digest(&algorithm, data.as_bytes()) else {
        return Err(err(
            "D3137",
            format!(
                "The hashing algorithm '{algorithm}' is not supported; use one of MD5, SHA-1, SHA-256, SHA-384, SHA-512"
            ),
        ));
    };
    Ok(JValue::from(digest))
}

pub(super) fn parse(args: &[JValue]) -> Result<JValue, EvaluatorError> {
    match arg(args, 0) {
        JValue::Undefined => Ok(JValue::Undefined),
        JValue::String(s) => serde_json::from_str::<serde_json::Value>(s)
            .map(|v| to_jvalue(&v))
            .map_err(|e| {
                err(
                    "D3137",
                    format!("$parse: the argument is not valid JSON: {e}"),
                )
            }),
        _ => Err(signature_error("parse", 1)),
    }
}

impl Host {
    fn random(&self, args: &[JValue]) -> Result<JValue, EvaluatorError> {
        let x = match int_arg("random", args, 0)? {
            // A seed gives the same number every time, independent of the execution.
            Some(seed) => Rng::new(seed as u64).next_f64(),
            None => self.rng.borrow_mut().next_f64(),
        };
        Ok(JValue::Number(x))
    }

    fn shuffle(&self, args: &[JValue]) -> Result<JValue, EvaluatorError> {
        let mut items: Vec<JValue> = match arg(args, 0) {
            JValue::Undefined => return Ok(JValue::Undefined),
            JValue::Array(a) => a.to_vec(),
            other => vec![other.clone()],
        };
        let mut rng = self.rng.borrow_mut();
        for i in (1..items.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
        Ok(JValue::array(items))
    }

    /// Registers every function on `ev`.
    pub fn install(&self, ev: &mut Evaluator) -> Result<(), EvaluatorError> {
        ev.register_fn("partition", partition)?;
        let max = self.max_range;
        ev.register_fn("range", move |a: &[JValue]| range(a, max))?;
        ev.register_fn("hash", hash)?;
        ev.register_fn("parse", parse)?;
        let rng = self.rng.clone();
        ev.register_fn("uuid", move |a: &[JValue]| {
            no_args("uuid", a)?;
            Ok(JValue::from(rng.borrow_mut().uuid_v4()))
        })?;
        let h = self.clone();
        ev.register_fn_override("random", move |a: &[JValue]| h.random(a))?;
        let h = self.clone();
        ev.register_fn_override("shuffle", move |a: &[JValue]| h.shuffle(a))?;
        let now = self.now;
        ev.register_fn_override("now", move |a: &[JValue]| {
            no_args("now", a)?;
            Ok(JValue::from(
                now.to_rfc3339_opts(SecondsFormat::Millis, true),
            ))
        })?;
        ev.register_fn_override("millis", move |a: &[JValue]| {
            no_args("millis", a)?;
            Ok(JValue::from(now.timestamp_millis()))
        })?;
        // Step Functions has no `$eval` (`$parse` replaces it): calling it is calling nothing.
        ev.register_fn_override("eval", |_: &[JValue]| -> Result<JValue, EvaluatorError> {
            Err(err("T1006", "Attempted to invoke a non-function"))
        })?;
        Ok(())
    }
}
