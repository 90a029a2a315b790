//! Interpreter tests on hand-built models (independent of the parser).

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use super::*;
use crate::model::{
    Catcher, Jitter, Map as MapState, Parallel, Pass, Retrier, Scope, State, StateKind,
    StateMachine, Task, Transition, Wait as WaitState, WaitFor,
};

fn state(name: &str, kind: StateKind) -> State {
    State {
        name: name.into(),
        comment: None,
        query_language: QueryLanguage::JsonPath,
        input_path: None,
        output_path: None,
        result_path: None,
        parameters: None,
        result_selector: None,
        assign: None,
        jsonata: Default::default(),
        kind,
    }
}

fn pass(name: &str, next: Option<usize>) -> State {
    let transition = next.map_or(Transition::End, Transition::Next);
    state(
        name,
        StateKind::Pass(Pass {
            result: None,
            transition,
        }),
    )
}

fn machine(states: Vec<State>) -> StateMachine {
    StateMachine {
        comment: None,
        version: None,
        timeout_seconds: None,
        query_language: QueryLanguage::JsonPath,
        root: Scope {
            start_at: 0,
            states,
        },
        jsonata_limits: Default::default(),
    }
}

fn task(name: &str, retry: Vec<Retrier>, catch: Vec<Catcher>, transition: Transition) -> State {
    state(
        name,
        StateKind::Task(Box::new(Task {
            resource: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            timeout: None,
            heartbeat: None,
            credentials: None,
            retry,
            catch,
            transition,
        })),
    )
}

fn retrier(errors: &[&str], max_attempts: u64) -> Retrier {
    Retrier {
        error_equals: errors.iter().map(|s| s.to_string()).collect(),
        interval_seconds: 1,
        max_attempts,
        backoff_rate: 2.0,
        max_delay_seconds: None,
        jitter: Jitter::None,
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH + TimeDelta::days(20_000)
}

fn info(input: Value) -> ExecutionInfo {
    ExecutionInfo {
        execution_arn: "arn:aws:states:us-east-1:000000000000:execution:sm:e".into(),
        execution_name: "e".into(),
        state_machine_arn: "arn:aws:states:us-east-1:000000000000:stateMachine:sm".into(),
        state_machine_name: "sm".into(),
        role_arn: "arn:aws:iam::000000000000:role/r".into(),
        region: "us-east-1".into(),
        machine_type: crate::parse::MachineType::Standard,
        start_time: t0(),
        input,
        seed: 7,
        max_payload_bytes: 262_144,
        record_history: true,
    }
}

type EventLog = Vec<(Event, DateTime<Utc>)>;

/// Drives an execution, answering tasks from `answers` in order; returns it with its event log.
fn drive(
    m: &StateMachine,
    input: Value,
    mut answers: Vec<Result<Value, Failure>>,
) -> (Execution, EventLog, Vec<HistoryEvent>) {
    let mut exec = Execution::new(info(input));
    let mut log = Vec::new();
    let mut history = Vec::new();
    let mut now = t0();
    let mut queue = VecDeque::from([Event::Start]);
    let mut timers: Vec<(DateTime<Utc>, TimerId)> = Vec::new();
    answers.reverse();
    loop {
        let ev = match queue.pop_front() {
            Some(e) => e,
            None => {
                timers.sort();
                if timers.is_empty() {
                    break;
                }
                let (at, timer) = timers.remove(0);
                now = now.max(at);
                Event::TimerFired { timer }
            }
        };
        log.push((ev.clone(), now));
        let step = exec.apply(m, ev, now);
        history.extend(step.history);
        for a in step.actions {
            match a {
                Action::ScheduleTask(call) => {
                    queue.push_back(match answers.pop().expect("an answer per task") {
                        Ok(output) => Event::TaskSucceeded {
                            task: call.task,
                            output,
                        },
                        Err(f) => Event::TaskFailed {
                            task: call.task,
                            error: f.error,
                            cause: f.cause,
                        },
                    })
                }
                Action::StartTimer { timer, at } => timers.push((at, timer)),
                Action::CancelTimer { timer } => timers.retain(|(_, t)| *t != timer),
                _ => {}
            }
        }
        if exec.status() != ExecutionStatus::Running {
            break;
        }
    }
    (exec, log, history)
}

#[test]
fn pass_chain_passes_input_through_with_history() {
    let m = machine(vec![
        pass("A", Some(1)),
        pass("B", Some(2)),
        pass("C", None),
    ]);
    let (exec, _, history) = drive(&m, json!({"x": 1}), vec![]);
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(exec.output(), Some(&json!({"x": 1})));
    let types: Vec<&str> = history.iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    let ids: Vec<(u64, u64)> = history
        .iter()
        .map(|e| (e.id, e.previous_event_id))
        .collect();
    assert_eq!(
        ids,
        [
            (1, 0),
            (2, 0),
            (3, 2),
            (4, 3),
            (5, 4),
            (6, 5),
            (7, 6),
            (8, 7)
        ]
    );
}

#[test]
fn pass_result_replaces_input() {
    let mut a = pass("A", None);
    a.kind = StateKind::Pass(Pass {
        result: Some(json!({"r": true})),
        transition: Transition::End,
    });
    let (exec, _, _) = drive(&machine(vec![a]), json!({"x": 1}), vec![]);
    assert_eq!(exec.output(), Some(&json!({"r": true})));
}

#[test]
fn task_retries_then_succeeds_with_backoff() {
    let m = machine(vec![task(
        "T",
        vec![retrier(&["States.ALL"], 3)],
        vec![],
        Transition::End,
    )]);
    let fail = || Err(Failure::new("Boom", "bad"));
    let (exec, log, history) = drive(&m, json!({}), vec![fail(), fail(), Ok(json!({"ok": 1}))]);
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(exec.output(), Some(&json!({"ok": 1})));
    let fired: Vec<i64> = log
        .iter()
        .filter(|(e, _)| matches!(e, Event::TimerFired { .. }))
        .map(|(_, t)| (*t - t0()).num_seconds())
        .collect();
    assert_eq!(fired, [1, 3], "1 s, then 2 s more (BackoffRate 2)");
    assert_eq!(
        history
            .iter()
            .filter(|e| e.event_type == "LambdaFunctionScheduled")
            .count(),
        3
    );
    assert_eq!(
        history
            .iter()
            .filter(|e| e.event_type == "TaskStateEntered")
            .count(),
        1
    );
}

#[test]
fn max_attempts_zero_never_retries_and_uncaught_fails() {
    let m = machine(vec![task(
        "T",
        vec![retrier(&["States.ALL"], 0)],
        vec![],
        Transition::End,
    )]);
    let (exec, _, history) = drive(&m, json!({}), vec![Err(Failure::new("Boom", "bad"))]);
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    assert_eq!(exec.failure(), Some(&Failure::new("Boom", "bad")));
    assert_eq!(
        history.last().map(|e| e.event_type),
        Some("ExecutionFailed")
    );
}

#[test]
fn catch_routes_error_output() {
    let catcher = Catcher {
        error_equals: vec!["States.TaskFailed".into()],
        next: 1,
        result_path: None,
        assign: None,
        jsonata_output: None,
        jsonata_assign: None,
    };
    let m = machine(vec![
        task("T", vec![], vec![catcher], Transition::Next(1)),
        pass("Handler", None),
    ]);
    let (exec, _, _) = drive(&m, json!({"in": 1}), vec![Err(Failure::new("Boom", "bad"))]);
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(
        exec.output(),
        Some(&json!({"Error": "Boom", "Cause": "bad"}))
    );
}

#[test]
fn runtime_errors_are_not_caught_by_states_all() {
    let catcher = Catcher {
        error_equals: vec!["States.ALL".into()],
        next: 1,
        result_path: None,
        assign: None,
        jsonata_output: None,
        jsonata_assign: None,
    };
    let m = machine(vec![
        task("T", vec![], vec![catcher], Transition::Next(1)),
        pass("Handler", None),
    ]);
    let (exec, _, _) = drive(&m, json!({}), vec![Err(Failure::runtime("x"))]);
    assert_eq!(exec.status(), ExecutionStatus::Failed);
}

fn parallel(branches: Vec<Scope>) -> State {
    state(
        "P",
        StateKind::Parallel(Box::new(Parallel {
            branches,
            retry: vec![],
            catch: vec![],
            transition: Transition::End,
        })),
    )
}

#[test]
fn parallel_collects_branch_outputs_in_order() {
    let b1 = Scope {
        start_at: 0,
        states: vec![task("T1", vec![], vec![], Transition::End)],
    };
    let b2 = Scope {
        start_at: 0,
        states: vec![pass("B2", None)],
    };
    let m = machine(vec![parallel(vec![b1, b2])]);
    let (exec, _, history) = drive(&m, json!({"v": 2}), vec![Ok(json!("task"))]);
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(exec.output(), Some(&json!(["task", {"v": 2}])));
    assert!(
        history
            .iter()
            .any(|e| e.event_type == "ParallelStateSucceeded")
    );
}

#[test]
fn parallel_branch_failure_fails_the_state() {
    let b1 = Scope {
        start_at: 0,
        states: vec![task("T1", vec![], vec![], Transition::End)],
    };
    let b2 = Scope {
        start_at: 0,
        states: vec![pass("B2", None)],
    };
    let m = machine(vec![parallel(vec![b1, b2])]);
    let (exec, _, _) = drive(&m, json!({}), vec![Err(Failure::new("E", "c"))]);
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    assert_eq!(exec.failure().map(|f| f.error.as_str()), Some("E"));
}

fn map_state(max_concurrency: Option<f64>, processor: Scope) -> State {
    state(
        "M",
        StateKind::Map(Box::new(MapState {
            processor,
            mode: Default::default(),
            execution_type: None,
            items_path: None,
            jsonata_items: None,
            item_selector: None,
            jsonata_item_selector: None,
            max_concurrency: max_concurrency.map(NumberSource::Literal),
            tolerated_failure_percentage: None,
            tolerated_failure_count: None,
            label: None,
            item_reader: None,
            item_batcher: None,
            result_writer: None,
            retry: vec![],
            catch: vec![],
            transition: Transition::End,
        })),
    )
}

#[test]
fn map_runs_every_item_in_order_with_concurrency_limit() {
    let processor = Scope {
        start_at: 0,
        states: vec![task("T", vec![], vec![], Transition::End)],
    };
    let m = machine(vec![map_state(Some(2.0), processor)]);
    let mut exec = Execution::new(info(json!([1, 2, 3])));
    let step = exec.apply(&m, Event::Start, t0());
    let calls: Vec<TaskCall> = step
        .actions
        .iter()
        .filter_map(|a| {
            if let Action::ScheduleTask(c) = a {
                Some(c.clone())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(calls.len(), 2, "MaxConcurrency 2 starts two iterations");
    let step = exec.apply(
        &m,
        Event::TaskSucceeded {
            task: calls[1].task,
            output: json!("b"),
        },
        t0(),
    );
    let third: Vec<&TaskCall> = step
        .actions
        .iter()
        .filter_map(|a| {
            if let Action::ScheduleTask(c) = a {
                Some(c)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].input, json!(3));
    let t3 = third[0].task;
    exec.apply(
        &m,
        Event::TaskSucceeded {
            task: t3,
            output: json!("c"),
        },
        t0(),
    );
    exec.apply(
        &m,
        Event::TaskSucceeded {
            task: calls[0].task,
            output: json!("a"),
        },
        t0(),
    );
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
    assert_eq!(exec.output(), Some(&json!(["a", "b", "c"])));
}

#[test]
fn map_over_non_array_is_a_runtime_error() {
    let m = machine(vec![map_state(
        None,
        Scope {
            start_at: 0,
            states: vec![pass("P", None)],
        },
    )]);
    let (exec, _, _) = drive(&m, json!({"a": 1}), vec![]);
    assert_eq!(exec.status(), ExecutionStatus::Failed);
    let f = exec.failure().unwrap();
    assert_eq!(f.error, "States.Runtime");
    assert!(f.cause_str().starts_with(
        "An error occurred while executing the state 'M' (entered at the event id #2)."
    ));
}

#[test]
fn wait_arms_a_timer_and_resumes() {
    let w = state(
        "W",
        StateKind::Wait(WaitState {
            wait: WaitFor::Seconds(30),
            transition: Transition::Next(1),
        }),
    );
    let m = machine(vec![w, pass("After", None)]);
    let mut exec = Execution::new(info(json!({})));
    let step = exec.apply(&m, Event::Start, t0());
    let Some(Action::StartTimer { timer, at }) = step.actions.first().cloned() else {
        panic!("{:?}", step.actions)
    };
    assert_eq!(at, t0() + TimeDelta::seconds(30));
    assert_eq!(exec.status(), ExecutionStatus::Running);
    exec.apply(&m, Event::TimerFired { timer }, at);
    assert_eq!(exec.status(), ExecutionStatus::Succeeded);
}

#[test]
fn execution_timeout_and_stop() {
    let w = state(
        "W",
        StateKind::Wait(WaitState {
            wait: WaitFor::Seconds(60),
            transition: Transition::End,
        }),
    );
    let mut m = machine(vec![w]);
    m.timeout_seconds = Some(5);
    let (exec, _, history) = drive(&m, json!({}), vec![]);
    assert_eq!(exec.status(), ExecutionStatus::TimedOut);
    assert_eq!(
        history.last().map(|e| e.event_type),
        Some("ExecutionTimedOut")
    );

    let m = machine(vec![task("T", vec![], vec![], Transition::End)]);
    let mut exec = Execution::new(info(json!({})));
    exec.apply(&m, Event::Start, t0());
    let step = exec.apply(
        &m,
        Event::Stop {
            error: "Op".into(),
            cause: "manual".into(),
        },
        t0(),
    );
    assert_eq!(exec.status(), ExecutionStatus::Aborted);
    assert!(
        step.actions
            .iter()
            .any(|a| matches!(a, Action::CancelTask { .. }))
    );
    assert_eq!(step.history[0].event_type, "ExecutionAborted");
}

#[test]
fn replaying_any_prefix_reaches_the_live_state() {
    let b1 = Scope {
        start_at: 0,
        states: vec![task(
            "T1",
            vec![retrier(&["States.ALL"], 2)],
            vec![],
            Transition::End,
        )],
    };
    let b2 = Scope {
        start_at: 0,
        states: vec![pass("B2", None)],
    };
    let m = machine(vec![parallel(vec![b1, b2])]);
    let answers = vec![Err(Failure::new("E", "c")), Ok(json!(1))];
    let (live_end, log, _) = drive(&m, json!({}), answers);
    let mut live = Execution::new(info(json!({})));
    for k in 0..log.len() {
        let (ev, at) = log[k].clone();
        live.apply(&m, ev, at);
        let mut replayed = Execution::new(info(json!({})));
        for (ev, at) in log[..=k].iter().cloned() {
            replayed.apply(&m, ev, at);
        }
        assert_eq!(replayed, live, "state after replaying {} events", k + 1);
    }
    assert_eq!(live, live_end);
    assert_eq!(live.status(), ExecutionStatus::Succeeded);
}

// ---- JSONata states (definitions through the parser) -----------------------------------------

fn jsonata_machine(states: Value) -> StateMachine {
    let def = json!({"QueryLanguage": "JSONata", "StartAt": "A", "States": states});
    crate::parse::parse_value(&def, crate::parse::MachineType::Standard)
        .unwrap_or_else(|d| panic!("{d:?}"))
}

/// The task a step scheduled.
fn scheduled_task(step: &Step) -> TaskCall {
    step.actions
        .iter()
        .find_map(|a| match a {
            Action::ScheduleTask(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a task")
}

fn types(h: &[HistoryEvent]) -> Vec<&str> {
    h.iter().map(|e| e.event_type).collect()
}

#[test]
fn jsonata_assign_and_output_see_the_variables_of_state_entry() {
    let m = jsonata_machine(json!({
        "A": {"Type": "Pass", "Assign": {"x": 1, "y": 2}, "Next": "B"},
        "B": {"Type": "Pass", "Assign": {"x": "{% $y %}", "y": "{% $x %}"},
              "Output": {"x": "{% $x %}", "in": "{% $states.input.v %}"}, "Next": "C"},
        "C": {"Type": "Succeed", "Output": {"x": "{% $x %}", "y": "{% $y %}"}}
    }));
    let (exec, _, h) = drive(&m, json!({"v": "i"}), vec![]);
    assert_eq!(
        exec.output(),
        Some(&json!({"x": 2, "y": 1})),
        "a swap works"
    );
    let b_exit = &h
        .iter()
        .filter(|e| e.event_type == "PassStateExited")
        .nth(1);
    let d = b_exit.and_then(|e| e.details.clone()).unwrap().1;
    assert_eq!(d["output"], json!("{\"x\":1,\"in\":\"i\"}"));
    assert_eq!(d["assignedVariables"]["x"], json!("2"));
}

#[test]
fn jsonata_choice_takes_rule_or_default_output() {
    let m = jsonata_machine(json!({
        "A": {"Type": "Choice", "Choices": [
                {"Condition": "{% $states.input.n > 1 %}", "Next": "Big", "Output": {"r": "big"}},
                {"Condition": false, "Next": "Big"}],
              "Default": "Small", "Output": "{% $states.input.n %}"},
        "Big": {"Type": "Succeed"},
        "Small": {"Type": "Succeed"}
    }));
    let (big, _, _) = drive(&m, json!({"n": 5}), vec![]);
    assert_eq!(big.output(), Some(&json!({"r": "big"})));
    let (small, _, _) = drive(&m, json!({"n": 0}), vec![]);
    assert_eq!(small.output(), Some(&json!(0)));
    let (bad, _, h) = drive(&m, json!({"n": "x"}), vec![]);
    assert_eq!(bad.status(), ExecutionStatus::Failed);
    assert!(types(&h).contains(&"EvaluationFailed"));
    assert!(
        bad.failure()
            .unwrap()
            .cause_str()
            .contains("Choices[0]/Condition")
    );
}

#[test]
fn jsonata_task_arguments_output_and_catch() {
    let m = jsonata_machine(json!({
        "A": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:f",
              "Arguments": {"q": "{% $states.input.q & '!' %}", "name": "{% $states.context.State.Name %}"},
              "TimeoutSeconds": "{% 2 + 3 %}",
              "Output": {"got": "{% $states.result.a %}", "in": "{% $states.input.q %}"},
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F",
                         "Assign": {"err": "{% $states.errorOutput.Error %}"},
                         "Output": {"caught": "{% $states.errorOutput.Cause %}"}}],
              "End": true},
        "F": {"Type": "Pass", "Output": {"err": "{% $err %}", "in": "{% $states.input %}"}, "End": true}
    }));
    let mut exec = Execution::new(info(json!({"q": "hi"})));
    let step = exec.apply(&m, Event::Start, t0());
    let call = scheduled_task(&step);
    assert_eq!(call.input, json!({"q": "hi!", "name": "A"}));
    assert_eq!(call.timeout_seconds, Some(5));
    let (ok, _, _) = drive(&m, json!({"q": "hi"}), vec![Ok(json!({"a": 1}))]);
    assert_eq!(ok.output(), Some(&json!({"got": 1, "in": "hi"})));
    let (caught, _, _) = drive(&m, json!({"q": "hi"}), vec![Err(Failure::new("E", "why"))]);
    assert_eq!(
        caught.output(),
        Some(&json!({"err": "E", "in": {"caught": "why"}}))
    );
}

#[test]
fn jsonata_map_items_and_item_selector() {
    let m = jsonata_machine(json!({
        "A": {"Type": "Map", "Items": "{% $states.input.xs %}",
              "ItemSelector": {"v": "{% $states.context.Map.Item.Value * 10 %}",
                               "i": "{% $states.context.Map.Item.Index %}"},
              "MaxConcurrency": "{% 1 %}",
              "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
              "Output": "{% $states.result.v %}", "End": true}
    }));
    let (exec, _, _) = drive(&m, json!({"xs": [1, 2]}), vec![]);
    assert_eq!(exec.output(), Some(&json!([10, 20])));
    let (bad, _, h) = drive(&m, json!({"xs": true}), vec![]);
    assert_eq!(
        &types(&h)[2..],
        ["EvaluationFailed", "MapStateFailed", "ExecutionFailed"]
    );
    // The evaluation failure chains to the event before MapStateEntered, as AWS records it.
    assert_eq!(h[2].previous_event_id, h[1].previous_event_id);
    assert!(bad.failure().unwrap().cause_str().ends_with(
        "The JSONata expression '$states.input.xs' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was 'boolean' for value: true"
    ));
}

#[test]
fn jsonata_wait_and_fail_fields() {
    let m = jsonata_machine(json!({
        "A": {"Type": "Wait", "Seconds": "{% $states.input.s %}", "Output": {"w": true}, "Next": "B"},
        "B": {"Type": "Fail", "Error": "{% 'E' & $string($states.input.w) %}", "Cause": "{% 'c' %}"}
    }));
    let (exec, log, _) = drive(&m, json!({"s": 3}), vec![]);
    assert_eq!(
        exec.failure(),
        Some(&Failure::new("Etrue", "c")),
        "the Wait's Output is the Fail's input"
    );
    assert_eq!(log.last().unwrap().1, t0() + TimeDelta::seconds(3));
    let (neg, _, _) = drive(&m, json!({"s": -1}), vec![]);
    assert_eq!(neg.failure().unwrap().error, "States.QueryEvaluationError");
}

#[test]
fn jsonata_uuid_replays_deterministically() {
    let m = jsonata_machine(json!({
        "A": {"Type": "Wait", "Seconds": 1, "Next": "B"},
        "B": {"Type": "Pass", "Output": {"u": "{% $uuid() %}", "r": "{% $random() %}", "t": "{% $now() %}"}, "End": true}
    }));
    let (live, log, _) = drive(&m, json!({}), vec![]);
    let mut replayed = Execution::new(info(json!({})));
    for (ev, at) in log {
        replayed.apply(&m, ev, at);
    }
    assert_eq!(replayed, live);
    assert_eq!(
        live.output().unwrap()["t"],
        json!(ts(t0() + TimeDelta::seconds(1)))
    );
}

#[test]
fn a_snapshot_resumes_exactly_where_it_was_taken() {
    let b1 = Scope {
        start_at: 0,
        states: vec![task(
            "T1",
            vec![retrier(&["States.ALL"], 2)],
            vec![],
            Transition::End,
        )],
    };
    let b2 = Scope {
        start_at: 0,
        states: vec![pass("B2", None)],
    };
    let m = machine(vec![parallel(vec![b1, b2])]);
    let (_, log, _) = drive(
        &m,
        json!({"k": [1, 2]}),
        vec![Err(Failure::new("E", "c")), Ok(json!(1))],
    );
    for cut in 1..log.len() {
        let mut live = Execution::new(info(json!({"k": [1, 2]})));
        for (ev, at) in log[..cut].iter().cloned() {
            live.apply(&m, ev, at);
        }
        let text = serde_json::to_string(&live).unwrap();
        let mut restored: Execution = serde_json::from_str(&text).unwrap();
        assert_eq!(restored, live, "snapshot after {cut} events");
        for (ev, at) in log[cut..].iter().cloned() {
            assert_eq!(restored.apply(&m, ev.clone(), at), live.apply(&m, ev, at));
        }
        assert_eq!(restored.status(), ExecutionStatus::Succeeded);
    }
}

#[test]
fn transitions_count_states_entered_including_branches() {
    let b = |n: &str| Scope {
        start_at: 0,
        states: vec![pass(n, None)],
    };
    let m = machine(vec![parallel(vec![b("B1"), b("B2")])]);
    let (exec, _, _) = drive(&m, json!({}), vec![]);
    assert_eq!(
        exec.transitions(),
        3,
        "the Parallel state and one state per branch"
    );
}

#[test]
fn a_submitted_callback_is_recorded_once_and_names_its_scheduled_event() {
    let m = jsonata_machine(json!({
        "A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
              "Arguments": {"QueueUrl": "q", "MessageBody": "{% $states.context.Task.Token %}"},
              "End": true}
    }));
    let mut exec = Execution::new(info(json!({})));
    let mut history = Vec::new();
    let step = exec.apply(&m, Event::Start, t0());
    let call = scheduled_task(&step);
    history.extend(step.history);
    let scheduled = history.iter().find(|e| e.event_type == "TaskScheduled");
    assert_eq!(Some(call.scheduled_event_id), scheduled.map(|e| e.id));
    for _ in 0..2 {
        let submitted = Event::TaskSubmitted {
            task: call.task,
            output: json!({"MessageId": "m-1"}),
        };
        history.extend(exec.apply(&m, submitted, t0()).history);
    }
    let sub: Vec<_> = history
        .iter()
        .filter(|e| e.event_type == "TaskSubmitted")
        .collect();
    assert_eq!(sub.len(), 1, "{:?}", types(&history));
    let (key, d) = sub[0].details.clone().unwrap();
    assert_eq!(key, "taskSubmittedEventDetails");
    assert_eq!(d["resource"], "sendMessage.waitForTaskToken");
    assert_eq!(d["output"], r#"{"MessageId":"m-1"}"#);
    assert_eq!(exec.status(), ExecutionStatus::Running);
    let done = Event::TaskSucceeded {
        task: call.task,
        output: json!({"ok": true}),
    };
    history.extend(exec.apply(&m, done, t0()).history);
    assert_eq!(exec.output(), Some(&json!({"ok": true})));
}
