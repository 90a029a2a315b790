//! What the console draws over a graph, computed on the server from an execution's history up
//! to any event: each state's status and runs, each Map state's iteration counts, one Map's
//! iterations, and one state's latest run. The browser never loads a whole history.
//!
//! An event belongs to the state its details name (`*StateEntered`, `MapIteration*`), else to
//! the state of the event it follows (`previousEventId`, which AWS keeps per branch and
//! iteration), so Parallel branches and Map iterations are told apart.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

/// The last few histories read, keyed by execution and its last event id (a history only
/// grows, so that pair names one exact history). Opening an execution page reads its history
/// for the overlay, the selected state and a Map's iterations: one read serves all three.
#[derive(Default)]
pub struct HistoryCache(Mutex<VecDeque<Cached>>);

/// (execution id, last event id, its events).
type Cached = (i64, i64, Arc<Vec<Value>>);

/// Events kept across all cached histories (about 30 MB of parsed JSON at most).
const CACHED_EVENTS: usize = 100_000;

impl HistoryCache {
    pub fn get(&self, execution_id: i64, last_event_id: i64) -> Option<Arc<Vec<Value>>> {
        let c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        c.iter()
            .find(|(id, last, _)| (*id, *last) == (execution_id, last_event_id))
            .map(|(_, _, h)| h.clone())
    }

    pub fn put(&self, execution_id: i64, last_event_id: i64, history: Arc<Vec<Value>>) {
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        c.retain(|(id, _, _)| *id != execution_id);
        c.push_front((execution_id, last_event_id, history));
        while c.len() > 1 && c.iter().map(|(_, _, h)| h.len()).sum::<usize>() > CACHED_EVENTS {
            c.pop_back();
        }
    }
}

/// One state's status after some prefix of the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateView {
    /// `RUNNING`, `WAITING` (for a token or a worker), `SUCCEEDED`, `FAILED` (also when the
    /// failure was caught), `TIMED_OUT` or `ABORTED`.
    pub status: &'static str,
    /// How often the state was entered (Map iterations and retries loop).
    pub runs: u64,
    /// The latest run's `*StateEntered` event.
    pub entered_event_id: i64,
}

/// A Map state's iterations, summed over its runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapCounts {
    pub total: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub aborted: u64,
}

#[derive(Debug, Default, PartialEq, Serialize)]
pub struct Overlay {
    pub states: BTreeMap<String, StateView>,
    pub maps: BTreeMap<String, MapCounts>,
}

fn id_of(e: &Value) -> i64 {
    e.get("id").and_then(Value::as_i64).unwrap_or(0)
}

fn type_of(e: &Value) -> &str {
    e.get("type").and_then(Value::as_str).unwrap_or("")
}

/// An event's `*EventDetails` member.
pub fn details(e: &Value) -> Option<&Value> {
    let Value::Object(m) = e else { return None };
    m.iter()
        .find(|(k, _)| k.ends_with("EventDetails"))
        .map(|(_, d)| d)
}

/// The state an event names in its details, if any.
pub fn named_state(e: &Value) -> Option<&str> {
    details(e)?.get("name").and_then(Value::as_str)
}

/// One run of a state: from its `*StateEntered` to its exit (or the failure that ended it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: String,
    /// The state's type as its events name it (`Task`, `Map`, `Pass` ...).
    pub state_type: String,
    /// As [`StateView::status`].
    pub status: &'static str,
    pub entered_event_id: i64,
    pub start_date: Option<Value>,
    pub stop_date: Option<Value>,
}

fn failure_status(ty: &str) -> Option<&'static str> {
    if ty.ends_with("TimedOut") {
        Some("TIMED_OUT")
    } else if ty.ends_with("Aborted") {
        Some("ABORTED")
    } else if ty.ends_with("Failed") {
        Some("FAILED")
    } else {
        None
    }
}

/// A history prefix read into state runs: which run each event belongs to, and Map counts.
#[derive(Default)]
struct Scan {
    steps: Vec<Step>,
    maps: BTreeMap<String, MapCounts>,
    /// Event id → index of its run in `steps`.
    run_of: HashMap<i64, usize>,
    /// State name → index of its latest run.
    latest: HashMap<String, usize>,
}

impl Scan {
    /// Reads events `..=at` (all of them when `at` is `None`).
    fn new(events: &[Value], at: Option<i64>) -> Scan {
        let mut scan = Scan::default();
        for e in events
            .iter()
            .take_while(|e| at.is_none_or(|a| id_of(e) <= a))
        {
            scan.read(e);
        }
        scan
    }

    fn read(&mut self, e: &Value) {
        let (id, ty) = (id_of(e), type_of(e));
        if ty.starts_with("Execution") {
            if let Some(status) = failure_status(ty) {
                // The execution ended with states still open: they end with it.
                for s in &mut self.steps {
                    if matches!(s.status, "RUNNING" | "WAITING") {
                        s.status = if status == "FAILED" {
                            "ABORTED"
                        } else {
                            status
                        };
                    }
                }
            }
            return;
        }
        let prev = e.get("previousEventId").and_then(Value::as_i64);
        let after = prev.and_then(|p| self.run_of.get(&p).copied());
        let named = named_state(e);
        if ty.ends_with("StateEntered") {
            let name = named.unwrap_or_default().to_string();
            self.latest.insert(name.clone(), self.steps.len());
            self.run_of.insert(id, self.steps.len());
            self.steps.push(Step {
                name,
                state_type: ty.trim_end_matches("StateEntered").to_string(),
                // A Fail state has no exit: entering it is its failure.
                status: if ty == "FailStateEntered" {
                    "FAILED"
                } else {
                    "RUNNING"
                },
                entered_event_id: id,
                start_date: e.get("timestamp").cloned(),
                stop_date: None,
            });
            return;
        }
        // An event naming its state belongs to the run it follows if that run is of the
        // state (an exit after its own run's events), else to the state's latest run (a Map's
        // iteration events, which follow the iteration's last inner event).
        let run = match named {
            Some(n) => after
                .filter(|&r| self.steps[r].name == n)
                .or_else(|| self.latest.get(n).copied()),
            None => after,
        };
        let Some(run) = run else { return };
        self.run_of.insert(id, run);
        if ty.starts_with("MapIteration") {
            let m = self.maps.entry(self.steps[run].name.clone()).or_default();
            match ty {
                "MapIterationStarted" => m.running += 1,
                "MapIterationSucceeded" => m.succeeded += 1,
                "MapIterationFailed" => m.failed += 1,
                "MapIterationAborted" => m.aborted += 1,
                _ => {}
            }
            if ty != "MapIterationStarted" {
                m.running = m.running.saturating_sub(1);
            }
            return;
        }
        if ty == "MapStateStarted" {
            let n = details(e)
                .and_then(|d| d.get("length"))
                .and_then(Value::as_u64);
            let m = self.maps.entry(self.steps[run].name.clone()).or_default();
            m.total += n.unwrap_or(0);
        }
        let s = &mut self.steps[run];
        s.status = match ty {
            t if t.ends_with("StateExited") => {
                s.stop_date = e.get("timestamp").cloned();
                match s.status {
                    "FAILED" | "TIMED_OUT" => s.status,
                    _ => "SUCCEEDED",
                }
            }
            "TaskSubmitted" | "ActivityScheduled" => "WAITING",
            "TaskScheduled" | "LambdaFunctionScheduled" | "ActivityStarted" => "RUNNING",
            t => failure_status(t).unwrap_or(s.status),
        };
    }
}

/// The overlay after events `..=at` (all of them when `at` is `None`): each state's latest
/// run and how many it had.
pub fn overlay(events: &[Value], at: Option<i64>) -> Overlay {
    let scan = Scan::new(events, at);
    let mut states: BTreeMap<String, StateView> = BTreeMap::new();
    for s in &scan.steps {
        let v = states.entry(s.name.clone()).or_insert(StateView {
            status: s.status,
            runs: 0,
            entered_event_id: s.entered_event_id,
        });
        v.runs += 1;
        v.status = s.status;
        v.entered_event_id = s.entered_event_id;
    }
    Overlay {
        states,
        maps: scan.maps,
    }
}

/// Every state run, in the order the states were entered.
pub fn steps(events: &[Value]) -> Vec<Step> {
    Scan::new(events, None).steps
}

/// The events of the latest run of `state`, from its `*StateEntered` on (Map iteration
/// events aside).
pub fn latest_run<'a>(events: &'a [Value], state: &str) -> Vec<&'a Value> {
    let scan = Scan::new(events, None);
    let Some(&run) = scan.latest.get(state) else {
        return Vec::new();
    };
    events
        .iter()
        .filter(|e| scan.run_of.get(&id_of(e)) == Some(&run))
        .filter(|e| !type_of(e).starts_with("MapIteration"))
        .collect()
}

/// One Map iteration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Iteration {
    pub index: u64,
    pub status: &'static str,
    pub started_event_id: i64,
    pub start_date: Option<Value>,
    pub stop_date: Option<Value>,
}

/// The iterations of Map state `map` (of its latest run), by index.
pub fn iterations(events: &[Value], map: &str) -> Vec<Iteration> {
    let mut by_index: BTreeMap<u64, Iteration> = BTreeMap::new();
    for e in events {
        let ty = type_of(e);
        if !ty.starts_with("MapIteration") || named_state(e) != Some(map) {
            continue;
        }
        let Some(index) = details(e)
            .and_then(|d| d.get("index"))
            .and_then(Value::as_u64)
        else {
            continue;
        };
        let ts = e.get("timestamp").cloned();
        if ty == "MapIterationStarted" {
            by_index.insert(
                index,
                Iteration {
                    index,
                    status: "RUNNING",
                    started_event_id: id_of(e),
                    start_date: ts,
                    stop_date: None,
                },
            );
        } else if let Some(it) = by_index.get_mut(&index) {
            it.status = match ty {
                "MapIterationSucceeded" => "SUCCEEDED",
                "MapIterationAborted" => "ABORTED",
                _ => "FAILED",
            };
            it.stop_date = ts;
        }
    }
    by_index.into_values().collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ev(id: i64, prev: i64, ty: &str, details: Option<Value>) -> Value {
        let mut e = json!({"id": id, "previousEventId": prev, "type": ty, "timestamp": id});
        if let Some(d) = details {
            let mut key = ty.to_string();
            key[..1].make_ascii_lowercase();
            e[format!("{key}EventDetails")] = d;
        }
        e
    }

    fn named(name: &str) -> Option<Value> {
        Some(json!({"name": name}))
    }

    fn iteration(index: u64) -> Option<Value> {
        Some(json!({"name": "Each", "index": index}))
    }

    /// Ask waits on a token; Each maps over 3 items: 0 succeeds, 1 fails, 2 runs.
    fn history() -> Vec<Value> {
        vec![
            ev(1, 0, "ExecutionStarted", None),
            ev(2, 1, "ParallelStateEntered", named("Both")),
            ev(3, 2, "ParallelStateStarted", None),
            ev(4, 3, "TaskStateEntered", named("Ask")),
            ev(5, 3, "MapStateEntered", named("Each")),
            ev(6, 4, "TaskScheduled", None),
            ev(7, 5, "MapStateStarted", Some(json!({"length": 3}))),
            ev(8, 6, "TaskStarted", None),
            ev(9, 7, "MapIterationStarted", iteration(0)),
            ev(10, 7, "MapIterationStarted", iteration(1)),
            ev(11, 9, "PassStateEntered", named("Item")),
            ev(12, 8, "TaskSubmitted", None),
            ev(13, 11, "PassStateExited", named("Item")),
            ev(14, 13, "MapIterationSucceeded", iteration(0)),
            ev(15, 10, "PassStateEntered", named("Item")),
            ev(16, 15, "ExecutionFailed", None),
        ]
    }

    #[test]
    fn states_follow_their_own_branch_and_iteration() {
        let h = history();
        let o = overlay(&h, Some(14));
        assert_eq!(o.states["Ask"].status, "WAITING");
        assert_eq!(o.states["Item"].status, "SUCCEEDED");
        assert_eq!(o.states["Each"].status, "RUNNING");
        assert_eq!(
            o.maps["Each"],
            MapCounts {
                total: 3,
                running: 1,
                succeeded: 1,
                ..Default::default()
            }
        );
        let o = overlay(&h, Some(15));
        assert_eq!(
            (o.states["Item"].status, o.states["Item"].runs),
            ("RUNNING", 2)
        );
        assert_eq!(o.states["Item"].entered_event_id, 15);
        assert!(!o.states.contains_key("Nope"));
        // Before the task was submitted it was running.
        assert_eq!(overlay(&h, Some(8)).states["Ask"].status, "RUNNING");
        // The execution failed: whatever was open is aborted.
        let end = overlay(&h, None);
        assert_eq!(end.states["Ask"].status, "ABORTED");
        assert_eq!(end.states["Item"].status, "ABORTED");
    }

    #[test]
    fn a_caught_failure_stays_failed_and_a_retry_runs_again() {
        let h = vec![
            ev(1, 0, "ExecutionStarted", None),
            ev(2, 1, "TaskStateEntered", named("T")),
            ev(3, 2, "LambdaFunctionScheduled", None),
            ev(4, 3, "LambdaFunctionFailed", None),
            ev(5, 4, "LambdaFunctionScheduled", None),
            ev(6, 5, "LambdaFunctionFailed", None),
            ev(7, 6, "TaskStateExited", named("T")),
            ev(8, 7, "FailStateEntered", named("F")),
        ];
        assert_eq!(overlay(&h, Some(4)).states["T"].status, "FAILED");
        assert_eq!(overlay(&h, Some(5)).states["T"].status, "RUNNING");
        assert_eq!(overlay(&h, None).states["T"].status, "FAILED");
        assert_eq!(overlay(&h, None).states["F"].status, "FAILED");
    }

    #[test]
    fn iterations_are_listed_by_index_with_their_outcome() {
        let mut h = history();
        h.insert(15, ev(15, 10, "MapIterationFailed", iteration(1)));
        let its = iterations(&h, "Each");
        let got: Vec<(u64, &str)> = its.iter().map(|i| (i.index, i.status)).collect();
        assert_eq!(got, [(0, "SUCCEEDED"), (1, "FAILED")]);
        assert_eq!(its[0].started_event_id, 9);
        assert!(iterations(&h, "Other").is_empty());
    }

    #[test]
    fn the_latest_run_of_a_state_is_its_last_entry_on() {
        let h = history();
        let ids: Vec<i64> = latest_run(&h, "Item").iter().map(|e| id_of(e)).collect();
        assert_eq!(ids, [15]);
        let ids: Vec<i64> = latest_run(&h, "Ask").iter().map(|e| id_of(e)).collect();
        assert_eq!(ids, [4, 6, 8, 12]);
    }

    #[test]
    fn each_run_of_a_state_is_a_step_with_its_own_outcome() {
        let h = history();
        let got: Vec<(String, String, &str)> = steps(&h)
            .into_iter()
            .map(|s| (s.name, s.state_type, s.status))
            .collect();
        let want = [
            ("Both", "Parallel", "ABORTED"),
            ("Ask", "Task", "ABORTED"),
            ("Each", "Map", "ABORTED"),
            ("Item", "Pass", "SUCCEEDED"),
            ("Item", "Pass", "ABORTED"),
        ];
        let want: Vec<(String, String, &str)> = want
            .iter()
            .map(|(n, t, s)| (n.to_string(), t.to_string(), *s))
            .collect();
        assert_eq!(got, want);
        assert_eq!(steps(&h)[3].stop_date, Some(json!(13)));
    }

    #[test]
    fn the_cache_serves_one_exact_history_and_stays_bounded() {
        let cache = HistoryCache::default();
        let big = Arc::new(vec![Value::Null; CACHED_EVENTS - 30]);
        cache.put(1, 5, Arc::new(history()));
        assert!(cache.get(1, 5).is_some());
        assert!(cache.get(1, 6).is_none(), "the history grew since");
        cache.put(2, big.len() as i64, big.clone());
        assert!(cache.get(1, 5).is_some());
        cache.put(3, 20, Arc::new(vec![Value::Null; 20]));
        assert!(
            cache.get(1, 5).is_none(),
            "the oldest went to stay under the bound"
        );
        assert!(cache.get(2, big.len() as i64).is_some() && cache.get(3, 20).is_some());
    }
}
