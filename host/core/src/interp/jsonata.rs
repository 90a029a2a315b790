//! JSONata-mode data flow of one state: `Arguments`, `Output`, `Assign` (state, Choice rule and
//! Catcher level), Choice `Condition`, Map `Items`/`ItemSelector`, Wait `Seconds`/`Timestamp`,
//! Fail `Error`/`Cause` and numeric fields, all seeing `$states` and the variables of state
//! entry. A failed expression is a `States.QueryEvaluationError` recorded with an
//! `EvaluationFailed` event, as AWS does.

use serde_json::{Map, Value};

use super::{Execution, FiberId, Flow, next_of, no_choice_matched};
use crate::error::Failure;
use crate::jsonata::{Env, Evaluation, JsonataExpr, JsonataTemplate, QueryError};
use crate::model::{Catcher, Condition, FailField, State, StateKind, Transition};

/// What a state's expressions see besides its input: `$states.result` after the work,
/// `$states.errorOutput` in a Catcher, the task token and Map item in `$states.context`.
#[derive(Default, Clone, Copy)]
pub(super) struct Phase<'v> {
    pub result: Option<&'v Value>,
    pub error_output: Option<&'v Value>,
    pub token: Option<&'v str>,
    pub item: Option<(usize, &'v Value)>,
}

impl Execution {
    /// Runs `f` with an [`Evaluation`] over the current state of `fid` (its raw input, the
    /// context object, the fiber's variables and the execution's Rng); an error becomes the
    /// state's failure.
    fn with_jsonata<R>(
        &mut self,
        st: &State,
        fid: FiberId,
        phase: &Phase<'_>,
        f: impl FnOnce(&mut Evaluation<'_>) -> Result<R, QueryError>,
    ) -> Result<R, Failure> {
        let mut rng = self.rng.clone();
        let result = {
            let fiber = self.fiber_ref(fid);
            let vars = fiber.vars.clone();
            let context = || self.context_object(st, fid, phase.token, phase.item);
            let mut ev = Evaluation::new(Env {
                input: &fiber.input,
                result: phase.result,
                error_output: phase.error_output,
                context: &context,
                vars: &*vars,
                rng: &mut rng,
                now: self.now,
                limits: self.jsonata_limits,
            });
            f(&mut ev)
        };
        self.rng = rng;
        result.map_err(|e| self.query_failed(st, fid, e))
    }

    /// The state's `States.QueryEvaluationError`, with AWS's cause prefix, after recording the
    /// `EvaluationFailed` event. Right after `StateEntered` AWS chains that event to the one
    /// before `StateEntered`, except in a Wait state.
    pub(super) fn query_failed(&mut self, st: &State, fid: FiberId, e: QueryError) -> Failure {
        let failure = self.state_error(st, fid, e.failure());
        let f = self.fiber(fid);
        if f.prev_event == f.entered_event && !matches!(st.kind, StateKind::Wait(_)) {
            f.prev_event = f.entered_prev;
        }
        let mut d = Map::new();
        d.insert("cause".into(), failure.cause_str().into());
        d.insert("error".into(), failure.error.as_str().into());
        if let Some(loc) = e.location {
            d.insert("location".into(), loc.into());
        }
        d.insert("state".into(), st.name.as_str().into());
        self.emit(Some(fid), "EvaluationFailed", || {
            Some(("evaluationFailedEventDetails", Value::Object(d)))
        });
        failure
    }

    /// `Assign` then `Output` (under `prefix`, e.g. `Choices[0]/`), both with the variables of
    /// state entry; the variables are set afterwards. Without `Output` the state passes on
    /// `default`.
    pub(super) fn jsonata_output_assign(
        &mut self,
        st: &State,
        fid: FiberId,
        phase: &Phase<'_>,
        rule: Option<(&str, Option<&JsonataTemplate>, Option<&JsonataTemplate>)>,
        default: Value,
    ) -> Result<Value, Failure> {
        let (prefix, output, assign) =
            rule.unwrap_or(("", st.jsonata.output.as_ref(), st.jsonata.assign.as_ref()));
        let (vars, out) = self.with_jsonata(st, fid, phase, |ev| {
            let vars = match assign {
                Some(t) => Some(ev.template(t, &format!("{prefix}Assign"))?),
                None => None,
            };
            let out = match output {
                Some(t) => Some(ev.template(t, &format!("{prefix}Output"))?),
                None => None,
            };
            Ok((vars, out))
        })?;
        if let Some(Value::Object(vals)) = vars {
            self.store_vars(fid, vals);
        }
        Ok(out.unwrap_or(default))
    }

    /// Pass, Succeed, Fail and Choice in JSONata mode.
    pub(super) fn run_jsonata_state(&mut self, st: &State, fid: FiberId) -> Result<Flow, Failure> {
        let input = self.fiber_ref(fid).input.clone();
        match &st.kind {
            StateKind::Pass(p) => {
                let out = self.jsonata_output_assign(st, fid, &Phase::default(), None, input)?;
                self.check_size(&out, &st.name)?;
                self.exited(st, fid, &out);
                Ok(next_of(&p.transition, out))
            }
            StateKind::Succeed => {
                let out = self.jsonata_output_assign(st, fid, &Phase::default(), None, input)?;
                self.exited(st, fid, &out);
                Ok(Flow::End(out))
            }
            StateKind::Fail(fail) => {
                let error = self.jsonata_fail_field(st, fid, &fail.error, "Error")?;
                let cause = self.jsonata_fail_field(st, fid, &fail.cause, "Cause")?;
                Ok(Flow::Failed(Failure {
                    error: error.unwrap_or_default(),
                    cause,
                }))
            }
            StateKind::Choice(c) => {
                let chosen = self.with_jsonata(st, fid, &Phase::default(), |ev| {
                    for (i, rule) in c.choices.iter().enumerate() {
                        let Condition::Jsonata(t) = &rule.condition else {
                            continue;
                        };
                        let at = format!("Choices[{i}]/Condition");
                        let holds = match t {
                            JsonataTemplate::Expr(e) => ev.typed(e, &at, "boolean")?.as_bool(),
                            JsonataTemplate::Literal(v) => v.as_bool(),
                            _ => None,
                        };
                        if holds == Some(true) {
                            return Ok(Some(i));
                        }
                    }
                    Ok(None)
                })?;
                // A matching rule's Assign/Output replace the state's; the state's apply on Default.
                let (next, out) = match chosen {
                    Some(i) => {
                        let r = &c.choices[i];
                        let prefix = format!("Choices[{i}]/");
                        let rule = (
                            prefix.as_str(),
                            r.jsonata_output.as_ref(),
                            r.jsonata_assign.as_ref(),
                        );
                        let out = self.jsonata_output_assign(
                            st,
                            fid,
                            &Phase::default(),
                            Some(rule),
                            input,
                        )?;
                        (r.next, out)
                    }
                    None => {
                        let d = c.default.ok_or_else(|| no_choice_matched(st))?;
                        let out =
                            self.jsonata_output_assign(st, fid, &Phase::default(), None, input)?;
                        (d, out)
                    }
                };
                self.exited(st, fid, &out);
                Ok(Flow::Next(next, out))
            }
            _ => unreachable!("run_jsonata_state on a state with work"),
        }
    }

    fn jsonata_fail_field(
        &mut self,
        st: &State,
        fid: FiberId,
        field: &Option<FailField>,
        name: &str,
    ) -> Result<Option<String>, Failure> {
        match field {
            None => Ok(None),
            Some(FailField::Literal(s)) => Ok(Some(s.clone())),
            Some(FailField::Jsonata(e)) => {
                let v = self
                    .with_jsonata(st, fid, &Phase::default(), |ev| ev.typed(e, name, "string"))?;
                Ok(v.as_str().map(str::to_string))
            }
            Some(FailField::Expr(_)) => unreachable!("JSONPath field on a JSONata state"),
        }
    }

    /// Task/Parallel `Arguments`.
    pub(super) fn jsonata_arguments(
        &mut self,
        st: &State,
        fid: FiberId,
        t: &JsonataTemplate,
        token: Option<&str>,
    ) -> Result<Value, Failure> {
        let phase = Phase {
            token,
            ..Phase::default()
        };
        self.with_jsonata(st, fid, &phase, |ev| ev.template(t, "Arguments"))
    }

    /// Map `Items`: an array, or an expression that must give one.
    pub(super) fn jsonata_items(
        &mut self,
        st: &State,
        fid: FiberId,
        t: &JsonataTemplate,
    ) -> Result<Value, Failure> {
        self.with_jsonata(st, fid, &Phase::default(), |ev| {
            ev.typed_template(t, "Items", "array")
        })
    }

    /// Map `ItemSelector` for one item (`$states.context.Map.Item`).
    pub(super) fn jsonata_item_selector(
        &mut self,
        st: &State,
        fid: FiberId,
        t: &JsonataTemplate,
        index: usize,
        item: &Value,
    ) -> Result<Value, Failure> {
        let phase = Phase {
            item: Some((index, item)),
            ..Phase::default()
        };
        self.with_jsonata(st, fid, &phase, |ev| ev.template(t, "ItemSelector"))
    }

    /// `TimeoutSeconds`, `HeartbeatSeconds`, `MaxConcurrency`, `ToleratedFailure…`: a number.
    /// Range checks stay with the caller, shared with JSONPath.
    pub(super) fn jsonata_number(
        &mut self,
        st: &State,
        fid: FiberId,
        e: &JsonataExpr,
        field: &str,
    ) -> Result<f64, Failure> {
        let v = self.with_jsonata(st, fid, &Phase::default(), |ev| {
            ev.typed(e, field, "number")
        })?;
        Ok(v.as_f64().unwrap_or(0.0))
    }

    pub(super) fn jsonata_wait_seconds(
        &mut self,
        st: &State,
        fid: FiberId,
        e: &JsonataExpr,
    ) -> Result<f64, Failure> {
        self.with_jsonata(st, fid, &Phase::default(), |ev| {
            let v = ev.typed(e, "Seconds", "number")?;
            match v.as_f64() {
                Some(n) if n >= 0.0 && n.fract() == 0.0 => Ok(n),
                _ => Err(QueryError::new(
                    "Seconds",
                    format!(
                        "The JSONata expression '{}' specified for the field 'Seconds' must return a non-negative integer, but was: {}",
                        e.source(),
                        crate::jsonata::from_jvalue(&v).unwrap_or(Value::Null)
                    ),
                )),
            }
        })
    }

    pub(super) fn jsonata_wait_timestamp(
        &mut self,
        st: &State,
        fid: FiberId,
        e: &JsonataExpr,
    ) -> Result<f64, Failure> {
        let v = self.with_jsonata(st, fid, &Phase::default(), |ev| {
            ev.typed(e, "Timestamp", "string")
        })?;
        let text = v.as_str().unwrap_or_default().to_string();
        match self.seconds_until(&text) {
            Some(s) => Ok(s),
            None => Err(self.query_failed(
                st,
                fid,
                QueryError::new(
                    "Timestamp",
                    format!(
                        "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {text}"
                    ),
                ),
            )),
        }
    }

    /// After a Task/Parallel/Map produced `result`: `Assign`, `Output` (default: the result),
    /// the payload limit, `StateExited`.
    pub(super) fn jsonata_finish(
        &mut self,
        st: &State,
        fid: FiberId,
        result: Value,
        transition: &Transition,
    ) -> Result<Flow, Failure> {
        let phase = Phase {
            result: Some(&result),
            ..Phase::default()
        };
        let out = self.jsonata_output_assign(st, fid, &phase, None, result.clone())?;
        self.check_size(&out, &st.name)?;
        self.exited(st, fid, &out);
        Ok(next_of(transition, out))
    }

    /// A matching Catcher: its own `Assign` and `Output` (default: the error output) with
    /// `$states.errorOutput`; the state's own fields do not run.
    pub(super) fn jsonata_catch(
        &mut self,
        st: &State,
        fid: FiberId,
        c: &Catcher,
        index: usize,
        error_output: Value,
    ) -> Result<Value, Failure> {
        let phase = Phase {
            error_output: Some(&error_output),
            ..Phase::default()
        };
        let prefix = format!("Catch[{index}]/");
        let rule = (
            prefix.as_str(),
            c.jsonata_output.as_ref(),
            c.jsonata_assign.as_ref(),
        );
        self.jsonata_output_assign(st, fid, &phase, Some(rule), error_output.clone())
    }
}
