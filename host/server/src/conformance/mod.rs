//! `sandflow conformance`: runs recorded AWS Step Functions cases (format:
//! `shared/conformance/README.md`) through the parser and the in-process driver, and reports
//! every case whose result differs from the recording, with a short diff.
//!
//! Creation cases must be rejected with the recorded error; execution cases run with the case's
//! input, machine type and Lambda stubs, and must match status, output, error, cause and (for
//! definitions without Parallel/Map, whose event order is fixed) the history.

mod case;
mod compare;
mod services;
mod skip;
mod stubs;

use std::cell::RefCell;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sandflow_core::lambda::python_json;
use sandflow_core::parse::{invalid_definition_message, parse_definition};
use sandflow_core::resource::Resource;
use sandflow_core::rng::Rng;
use sandflow_core::run::{RunOptions, RunResult, run};
use sandflow_core::services::Integration;
use serde_json::Value;

use crate::aws_json;
use case::{Case, CreationError, any_node, case_files};
use compare::{Matcher, Mode, truncate};
use stubs::StubHandler;

/// The account and region the cases' ARNs were recorded with.
const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";

#[derive(Debug, Clone)]
pub struct Options {
    pub roots: Vec<PathBuf>,
    pub filter: Option<String>,
    pub verbose: bool,
    /// A case still running after this long counts as failed.
    pub case_timeout: Duration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

enum Verdict {
    Pass,
    Fail(Vec<String>),
}

/// Runs every case under `opts.roots`, writing one line per failure or skip and the summary.
pub fn run_cases(opts: &Options, out: &mut dyn Write) -> io::Result<Summary> {
    let files = case_files(&opts.roots).map_err(io::Error::other)?;
    let mut summary = Summary::default();
    install_panic_hook();
    for path in files {
        let case = match Case::load(&path) {
            Ok(case) => case,
            Err(e) => {
                let shown = path.display().to_string();
                if opts.filter.as_ref().is_none_or(|f| shown.contains(f)) {
                    summary.failed += 1;
                    writeln!(out, "FAIL {shown}: {e}")?;
                }
                continue;
            }
        };
        if opts.filter.as_ref().is_some_and(|f| !case.id.contains(f)) {
            continue;
        }
        if let Some(feature) = skip::skip_reason(&case) {
            summary.skipped += 1;
            writeln!(out, "skip {}: needs {feature}", case.id)?;
            continue;
        }
        let id = case.id.clone();
        let file = case.path.display().to_string();
        match evaluate_with_timeout(case, opts.case_timeout) {
            Verdict::Pass => {
                summary.passed += 1;
                if opts.verbose {
                    writeln!(out, "ok {id}")?;
                }
            }
            Verdict::Fail(diffs) => {
                summary.failed += 1;
                let first = diffs.first().map_or("", String::as_str);
                if opts.verbose {
                    writeln!(out, "FAIL {id}: {first}")?;
                    for line in &diffs[1..] {
                        writeln!(out, "    {line}")?;
                    }
                    writeln!(out, "    file: {file}")?;
                } else if diffs.len() > 1 {
                    writeln!(out, "FAIL {id}: {first} (+{} more)", diffs.len() - 1)?;
                } else {
                    writeln!(out, "FAIL {id}: {first}")?;
                }
            }
        }
        out.flush()?;
    }
    writeln!(
        out,
        "conformance: {} passed, {} failed, {} skipped",
        summary.passed, summary.failed, summary.skipped
    )?;
    Ok(summary)
}

thread_local! {
    /// The message of the last panic on this case thread, kept by [`install_panic_hook`].
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Case threads are named with this prefix; their panics become the case's failure line.
const CASE_THREAD_PREFIX: &str = "conformance:";

/// Keeps the panic messages of case threads for their verdict instead of printing them; other
/// threads' panics go to the hook that was there before.
fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let on_case_thread = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(CASE_THREAD_PREFIX));
            if on_case_thread {
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs one case on its own thread so a panic or a hang fails that case, not the run.
fn evaluate_with_timeout(case: Case, timeout: Duration) -> Verdict {
    let name = case.id.clone();
    isolated(&name, timeout, move || evaluate(&case))
}

/// Runs `job` on a thread of its own: a panic or a hang becomes a failed verdict.
fn isolated(
    name: &str,
    timeout: Duration,
    job: impl FnOnce() -> Verdict + Send + 'static,
) -> Verdict {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(format!("{CASE_THREAD_PREFIX}{name}"))
        .stack_size(64 << 20)
        .spawn(move || {
            let verdict = match panic::catch_unwind(AssertUnwindSafe(job)) {
                Ok(v) => v,
                Err(_) => {
                    let msg = LAST_PANIC.with(|p| p.borrow_mut().take());
                    Verdict::Fail(vec![format!(
                        "panicked: {}",
                        msg.unwrap_or_else(|| "(no message)".into())
                    )])
                }
            };
            let _ = tx.send(verdict);
        });
    if let Err(e) = spawned {
        return Verdict::Fail(vec![format!("could not start the case: {e}")]);
    }
    rx.recv_timeout(timeout).unwrap_or_else(|_| {
        Verdict::Fail(vec![format!("no result after {timeout:?} (still running)")])
    })
}

fn evaluate(case: &Case) -> Verdict {
    let diffs = match &case.creation_error {
        Some(err) => check_creation(case, err),
        None => check_execution(case),
    };
    if diffs.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(diffs)
    }
}

/// The definition as the recording client sent it: Python's `json.dumps`. It matters where AWS
/// quotes the submitted text back in an error message.
fn definition_text(case: &Case) -> String {
    python_json(&case.definition)
}

fn check_creation(case: &Case, err: &CreationError) -> Vec<String> {
    let diags = match parse_definition(&definition_text(case), case.machine_type) {
        Ok(_) => {
            return vec![format!(
                "definition accepted; expected {}: {}",
                err.error_type,
                truncate(&err.message)
            )];
        }
        Err(diags) => diags,
    };
    let mut m = Matcher::new();
    if err.is_validate_api() {
        let expected = Value::Array(err.diagnostics.clone().unwrap_or_default());
        let actual = aws_json::diagnostics(&diags);
        match m.values("$", &expected, &actual, Mode::Value) {
            Ok(()) => vec![],
            Err(mm) => vec![format!("diagnostics {mm}")],
        }
    } else {
        let actual = invalid_definition_message(&diags);
        if m.text(&err.message, &actual) {
            vec![]
        } else {
            vec![format!(
                "InvalidDefinition message: expected {}, got {}",
                truncate(&err.message),
                truncate(&actual)
            )]
        }
    }
}

fn check_execution(case: &Case) -> Vec<String> {
    let machine = match parse_definition(&definition_text(case), case.machine_type) {
        Ok(machine) => machine,
        Err(diags) => {
            return vec![format!(
                "definition rejected: {}",
                truncate(&invalid_definition_message(&diags))
            )];
        }
    };
    let seed = fnv1a(case.id.as_bytes());
    let mut names = Rng::new(seed ^ 0x5EED);
    let opts = RunOptions {
        account: ACCOUNT.into(),
        region: REGION.into(),
        state_machine_name: format!("conformance-{:08x}", seed as u32),
        execution_name: names.uuid_v4(),
        machine_type: case.machine_type,
        start_time: DateTime::<Utc>::from(std::time::SystemTime::now()),
        seed,
        record_history: true,
        ..RunOptions::default()
    };
    let mut input = case.input.clone();
    let calls_services = skip::resources(&case.definition).iter().any(|r| {
        let r = Resource::parse(r);
        Integration::from_resource(&r).is_some() || skip::is_sns_publish(&r)
    });
    // The recording of a publish to a missing topic says so only by its error.
    let topics_exist = case.expected.error.as_deref() != Some("SNS.NotFoundException");
    let services = if calls_services {
        match services::Fixture::new(&mut input, ACCOUNT, REGION, topics_exist) {
            Ok(f) => Some(f),
            Err(e) => return vec![format!("could not set up the built-in services: {e}")],
        }
    } else {
        None
    };
    let mut stubs = StubHandler {
        stubs: &case.stubs,
        services: services.as_ref(),
        region: REGION,
        account: ACCOUNT,
        max_payload_bytes: opts.max_payload_bytes,
        now: opts.start_time,
        rng: names,
    };
    let result = run(&machine, input, &opts, &mut stubs);
    let mut diffs = compare_result(case, &result);
    if !diffs.is_empty() {
        // Last, so only --verbose shows it.
        let actual = aws_json::execution(&result, false);
        diffs.push(format!("actual result: {}", short(&actual)));
    }
    diffs
}

/// Every difference between `result` and the recording, most telling first.
fn compare_result(case: &Case, result: &RunResult) -> Vec<String> {
    let expected = &case.expected;
    let mut diffs = Vec::new();
    let mut m = Matcher::new();
    if expected.status != result.status.as_aws() {
        diffs.push(format!(
            "status: expected {}, got {}{}",
            expected.status,
            result.status.as_aws(),
            describe_failure(result)
        ));
    }
    if let Some(e) = &expected.output {
        match &result.output {
            None => diffs.push(format!("output: expected {}, got none", short(e))),
            Some(a) => {
                if let Err(mm) = m.values("$", e, a, Mode::Value) {
                    diffs.push(format!("output {mm}"));
                }
            }
        }
    }
    let expected_error = expected.error.clone().map(Value::String);
    for (field, e, a) in [
        ("error", &expected_error, &result.error),
        ("cause", &expected.cause, &result.cause),
    ] {
        if let Some(diff) = compare_error_field(&mut m, field, e.as_ref(), a.as_deref()) {
            diffs.push(diff);
        }
    }
    if let Some(history) = &case.history
        && is_sequential(&case.definition)
        && let Some(diff) = compare_history(&mut m, history, &result.history)
    {
        diffs.push(diff);
    }
    diffs
}

/// `error`/`cause`: a recorded string matches as text, a recorded object (JSON text that began
/// with `{`) matches the parsed actual text; nothing recorded means nothing (or "") reported.
fn compare_error_field(
    m: &mut Matcher,
    field: &str,
    expected: Option<&Value>,
    actual: Option<&str>,
) -> Option<String> {
    let got = || actual.map_or("none".into(), |a| truncate(&format!("{a:?}")));
    match (expected, actual) {
        (None, None) => None,
        (None, Some("")) => None,
        (None, Some(_)) => Some(format!("{field}: expected none, got {}", got())),
        (Some(e), None) => Some(format!("{field}: expected {}, got none", short(e))),
        (Some(Value::String(e)), Some(a)) => (!m.text(e, a)).then(|| {
            format!(
                "{field}: expected {}, got {}",
                truncate(&format!("{e:?}")),
                got()
            )
        }),
        (Some(e), Some(a)) => match serde_json::from_str::<Value>(a) {
            Ok(parsed) => m
                .values("$", e, &parsed, Mode::Value)
                .err()
                .map(|mm| format!("{field} {mm}")),
            Err(_) => Some(format!(
                "{field}: expected JSON {}, got text {}",
                short(e),
                got()
            )),
        },
    }
}

fn compare_history(m: &mut Matcher, expected: &[Value], actual: &[Value]) -> Option<String> {
    let type_of = |e: &Value| {
        e.get("type")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    for (i, (e, a)) in expected.iter().zip(actual).enumerate() {
        let (ty, actual_ty) = (type_of(e), type_of(a));
        if ty != actual_ty {
            return Some(format!(
                "history event {}: expected {ty}, got {actual_ty}",
                i + 1
            ));
        }
        if let Err(mm) = m.values("$", e, a, Mode::History) {
            return Some(format!("history event {} ({ty}) {mm}", i + 1));
        }
    }
    if expected.len() != actual.len() {
        let type_at = |events: &[Value], i: usize| {
            events
                .get(i)
                .and_then(|e| e.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("end")
                .to_string()
        };
        let i = expected.len().min(actual.len());
        return Some(format!(
            "history: expected {} events, got {} (event {}: expected {}, got {})",
            expected.len(),
            actual.len(),
            i + 1,
            type_at(expected, i),
            type_at(actual, i)
        ));
    }
    None
}

/// No Parallel or Map anywhere, so the recorded event order is the only possible one.
fn is_sequential(definition: &Value) -> bool {
    !any_node(definition, &mut |key, v| {
        key == Some("Type") && (*v == "Parallel" || *v == "Map")
    })
}

fn describe_failure(r: &RunResult) -> String {
    match (&r.error, &r.cause) {
        (Some(e), Some(c)) => format!(" ({e}: {})", truncate(c)),
        (Some(e), None) => format!(" ({e})"),
        _ => String::new(),
    }
}

fn short(v: &Value) -> String {
    truncate(&serde_json::to_string(v).unwrap_or_default())
}

/// Stable per-case seed, so reruns draw the same ids.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandflow_core::run::ExecutionStatus;
    use serde_json::json;

    fn result(
        status: ExecutionStatus,
        output: Option<Value>,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> RunResult {
        RunResult {
            status,
            output,
            error: error.map(str::to_string),
            cause: cause.map(str::to_string),
            history: vec![],
        }
    }

    fn case_with(expected: Value, history: Option<Value>) -> Case {
        let dir = std::env::temp_dir().join(format!(
            "sandflow-conf-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        let mut doc = json!({"id": "t/c", "features": [], "definition": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "expected": expected});
        if let Some(h) = history {
            doc["history"] = h;
        }
        std::fs::write(&path, doc.to_string()).unwrap();
        let c = Case::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        c
    }

    #[test]
    fn matching_results_have_no_diffs() {
        let c = case_with(
            json!({"status": "SUCCEEDED", "output": {"a": "<uuid:1>"}}),
            None,
        );
        let r = result(
            ExecutionStatus::Succeeded,
            Some(json!({"a": "x"})),
            None,
            None,
        );
        assert!(compare_result(&c, &r).is_empty());
    }

    #[test]
    fn status_output_error_and_cause_are_all_checked() {
        let c = case_with(
            json!({"status": "FAILED", "error": "States.Runtime", "cause": "bad <x>"}),
            None,
        );
        let r = result(ExecutionStatus::Succeeded, Some(json!(1)), None, None);
        let diffs = compare_result(&c, &r);
        assert!(
            diffs[0].starts_with("status: expected FAILED, got SUCCEEDED"),
            "{diffs:?}"
        );
        assert!(
            diffs.iter().any(|d| d.starts_with("error: expected")),
            "{diffs:?}"
        );
        assert!(
            diffs.iter().any(|d| d.starts_with("cause: expected")),
            "{diffs:?}"
        );
        let r = result(
            ExecutionStatus::Failed,
            None,
            Some("States.Runtime"),
            Some("bad thing"),
        );
        assert!(compare_result(&c, &r).is_empty());
        let r = result(
            ExecutionStatus::Failed,
            None,
            Some("States.Runtime"),
            Some("good"),
        );
        assert_eq!(compare_result(&c, &r).len(), 1);
    }

    #[test]
    fn object_causes_compare_parsed() {
        let c = case_with(
            json!({"status": "FAILED", "error": "E", "cause": {"errorType": "E", "requestId": "<uuid:1>"}}),
            None,
        );
        let ok = result(
            ExecutionStatus::Failed,
            None,
            Some("E"),
            Some(r#"{"errorType": "E", "requestId": "r"}"#),
        );
        assert!(compare_result(&c, &ok).is_empty());
        let bad = result(ExecutionStatus::Failed, None, Some("E"), Some("not json"));
        assert_eq!(compare_result(&c, &bad).len(), 1);
    }

    #[test]
    fn absent_error_allows_none_or_empty_only() {
        let c = case_with(json!({"status": "FAILED", "error": "States.Timeout"}), None);
        let r = result(
            ExecutionStatus::Failed,
            None,
            Some("States.Timeout"),
            Some(""),
        );
        assert!(compare_result(&c, &r).is_empty());
        let r = result(
            ExecutionStatus::Failed,
            None,
            Some("States.Timeout"),
            Some("why"),
        );
        assert_eq!(compare_result(&c, &r).len(), 1);
    }

    #[test]
    fn history_is_compared_for_sequential_definitions() {
        let h = json!([
            {"id": 1, "previousEventId": 0, "timestamp": "timestamp", "type": "ExecutionStarted",
             "executionStartedEventDetails": {"input": {}, "inputDetails": {"truncated": false}, "roleArn": "snf_role_arn"}},
            {"id": 2, "previousEventId": 1, "timestamp": "timestamp", "type": "ExecutionSucceeded",
             "executionSucceededEventDetails": {"output": {}, "outputDetails": {"truncated": false}}}
        ]);
        let c = case_with(
            json!({"status": "SUCCEEDED", "output": {}}),
            Some(h.clone()),
        );
        let mut r = result(ExecutionStatus::Succeeded, Some(json!({})), None, None);
        r.history = vec![
            json!({"id": 1, "previousEventId": 0, "timestamp": "2026-01-01T00:00:00.000Z", "type": "ExecutionStarted",
                   "executionStartedEventDetails": {"input": "{}", "inputDetails": {"truncated": false}, "roleArn": "arn:aws:iam::1:role/x"}}),
            json!({"id": 2, "previousEventId": 1, "timestamp": "2026-01-01T00:00:00.000Z", "type": "ExecutionSucceeded",
                   "executionSucceededEventDetails": {"output": "{}", "outputDetails": {"truncated": false}}}),
        ];
        assert!(
            compare_result(&c, &r).is_empty(),
            "{:?}",
            compare_result(&c, &r)
        );
        r.history.pop();
        let diffs = compare_result(&c, &r);
        assert!(
            diffs[0].starts_with("history: expected 2 events, got 1"),
            "{diffs:?}"
        );
    }

    fn failure_of(v: Verdict) -> String {
        match v {
            Verdict::Fail(diffs) => diffs.join("\n"),
            Verdict::Pass => panic!("expected a failed verdict"),
        }
    }

    #[test]
    fn a_panicking_case_fails_with_its_message() {
        install_panic_hook();
        let msg = failure_of(isolated("p", Duration::from_secs(30), || {
            panic!("interp bug 42")
        }));
        assert!(
            msg.starts_with("panicked: ") && msg.contains("interp bug 42"),
            "{msg}"
        );
    }

    #[test]
    fn a_hanging_case_fails_after_the_timeout() {
        let msg = failure_of(isolated("h", Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(5));
            Verdict::Pass
        }));
        assert!(msg.starts_with("no result after"), "{msg}");
    }

    #[test]
    fn parallel_and_map_definitions_are_not_sequential() {
        assert!(is_sequential(&json!({"States": {"A": {"Type": "Pass"}}})));
        assert!(!is_sequential(
            &json!({"States": {"A": {"Type": "Parallel", "Branches": []}}})
        ));
        assert!(!is_sequential(&json!({"States": {"A": {"Type": "Map"}}})));
    }

    #[test]
    fn runner_reports_skips_failures_and_the_summary() {
        let dir = std::env::temp_dir().join(format!("sandflow-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("ecs.json"),
            json!({"id": "t/ecs", "features": [], "definition": {"StartAt": "P", "States": {
                       "P": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask", "End": true}}},
                   "input": {}, "expected": {"status": "SUCCEEDED", "output": {}}})
            .to_string(),
        )
        .unwrap();
        std::fs::write(dir.join("broken.json"), "{").unwrap();
        let opts = Options {
            roots: vec![dir.clone()],
            filter: None,
            verbose: false,
            case_timeout: Duration::from_secs(30),
        };
        let mut out = Vec::new();
        let summary = run_cases(&opts, &mut out).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("skip t/ecs: needs ecs:runTask"), "{text}");
        assert!(
            text.contains("broken.json: not a conformance case"),
            "{text}"
        );
        assert_eq!(
            summary,
            Summary {
                passed: 0,
                failed: 1,
                skipped: 1
            }
        );
        assert!(
            text.ends_with("conformance: 0 passed, 1 failed, 1 skipped\n"),
            "{text}"
        );
    }
}
