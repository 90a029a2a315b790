//! The `sandflow` command line: argument definitions and the `exec` and `validate` commands.
//! Exit codes: 0 success, 1 the definition or execution failed, 2 bad usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use sandflow_core::parse::{MachineType, parse_definition};
use sandflow_core::run::{ExecutionStatus, RunOptions, TaskOutcome, run};
use serde_json::Value;

use crate::aws_json;
use crate::conformance;
use crate::mocks::{MockFlag, MockSet, parse_mock_file, parse_mock_flag};

#[derive(Debug, Parser)]
#[command(
    name = "sandflow",
    version,
    about = "Self-hosted AWS Step Functions-compatible workflows"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a definition in-process, answering Task states from mocks; prints the result as JSON.
    Exec(ExecArgs),
    /// Validate a definition like ValidateStateMachineDefinition; prints the result as JSON.
    Validate(ValidateArgs),
    /// Run conformance case files and report the cases that differ from AWS.
    Conformance(ConformanceArgs),
    /// Run, check or benchmark a task's WebAssembly locally.
    Task(crate::task_cli::TaskArgs),
    /// Measure interpreter throughput (state transitions per second) on standard scenarios, or
    /// with --endpoint drive any Step Functions endpoint over HTTP.
    Bench(BenchArgs),
    /// Serve the AWS-compatible API (Step Functions, Lambda) on a data directory.
    Serve(ServeArgs),
    /// Run the order-fulfillment demo: build the guest tasks, serve with --dev keys, upload
    /// the tasks, create the workflow, start three orders and print what to try next.
    Demo(DemoArgs),
    /// Manage the tenants of a data directory (works while a server runs on it).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage access keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Manage a tenant's WASM functions (works while a server runs on the directory).
    #[command(subcommand)]
    Function(FunctionCommand),
}

#[derive(Debug, Subcommand)]
pub enum FunctionCommand {
    /// Grant (or revoke) capabilities and set the fuel budget; prints the function's grants.
    /// Grants: http:URL, http:GET,POST:URL, kv:TABLE, queue:NAME, log, clock, random.
    Grant {
        /// The function's name.
        name: String,
        /// Grants to add.
        grants: Vec<String>,
        #[arg(long)]
        tenant: String,
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Grants to take away (repeatable).
        #[arg(long, value_name = "GRANT")]
        revoke: Vec<String>,
        /// Drop every existing grant before adding.
        #[arg(long)]
        replace: bool,
        /// Fuel budget per invocation; `default` for the server's.
        #[arg(long, value_name = "N|default")]
        fuel: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Data directory (SQLite database and the key that encrypts stored secrets).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Ensure a development tenant: account 000000000000, access key `test`, secret `test`.
    #[arg(long)]
    pub dev: bool,
    /// Tasks a tenant may run at once; more are throttled (Lambda.TooManyRequestsException).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub task_concurrency: usize,
    /// Fuel a tenant's tasks may burn per second on average (bursts up to ten seconds' worth);
    /// past it tasks are throttled. Default: unlimited.
    #[arg(long, value_name = "FUEL")]
    pub fuel_per_second: Option<u64>,
    /// An origin (`http://host:port`) SNS http/https subscriptions may deliver to; repeatable.
    /// None given: Subscribe refuses http/https endpoints.
    #[arg(long = "sns-http-allow", value_name = "ORIGIN")]
    pub sns_http_allow: Vec<String>,
    /// SMTP relay (`HOST:PORT`, no TLS or auth) for SNS email subscriptions. None given: mail
    /// stays in the outbox (`GET /sandflow/outbox`).
    #[arg(long = "smtp-relay", value_name = "HOST:PORT")]
    pub smtp_relay: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Data directory; a second run continues on the same data.
    #[arg(long, value_name = "DIR", default_value = "target/sandflow-demo")]
    pub data: PathBuf,
    /// Use guests already built by guest-examples/build.sh into DIR (rust-check-inventory.wasm
    /// and so on) instead of building them.
    #[arg(long, value_name = "DIR")]
    pub guests: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant; prints {"tenant","accountId","accessKeyId","secretAccessKey"}.
    Create {
        name: String,
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// List tenants and their access key ids (never secrets).
    List {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Delete a tenant and everything it owns.
    Delete {
        name: String,
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Print the tenant's metered usage per UTC day (transitions, task invocations, fuel, task
    /// wall time) and the total.
    Usage {
        name: String,
        /// First day to include (YYYY-MM-DD); default: everything.
        #[arg(long, value_name = "DATE")]
        since: Option<chrono::NaiveDate>,
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Override the server's quotas for one tenant (a hosted tenant's plan); prints the
    /// tenant's overrides (null: the server's default). A running server applies them within
    /// two seconds.
    Quota {
        name: String,
        /// Open Standard executions at most.
        #[arg(long, value_name = "N")]
        open_executions: Option<u64>,
        /// StartExecution / StartSyncExecution calls per second, on average.
        #[arg(long, value_name = "F")]
        starts_per_second: Option<f64>,
        #[arg(long, value_name = "F")]
        start_burst: Option<f64>,
        /// Task invocations running at once.
        #[arg(long, value_name = "N")]
        task_concurrency: Option<u64>,
        /// Fuel the tenant's tasks may burn per second, on average.
        #[arg(long, value_name = "F")]
        fuel_per_second: Option<f64>,
        #[arg(long, value_name = "F")]
        fuel_burst: Option<f64>,
        /// Drop the tenant's overrides first (alone: back to the server's defaults).
        #[arg(long)]
        reset: bool,
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Allow origins (`https://host[:port]`) for the tenant's HTTP tasks (`http:invoke`), or
    /// revoke them; prints the tenant's list. Nothing is allowed until listed here.
    HttpAllow {
        name: String,
        origins: Vec<String>,
        /// An origin to take off the list (repeatable).
        #[arg(long, value_name = "ORIGIN")]
        revoke: Vec<String>,
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Replace a tenant's access keys with a new one; prints it like `tenant create`.
    Rotate {
        tenant: String,
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Seconds to run each interpreter scenario (with and without history).
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    pub seconds: f64,
    /// Also run the engine benchmarks (durable Standard with fsync, Express sync, recovery) on a
    /// temporary store under DIR (default: the system temp dir).
    #[arg(long)]
    pub engine: bool,
    #[arg(long, value_name = "DIR", requires = "engine")]
    pub dir: Option<PathBuf>,
    /// Executions per engine benchmark.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub executions: usize,
    /// Concurrent clients per engine benchmark.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub concurrency: usize,
    /// Open executions for the recovery benchmark.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub open: usize,
    /// Instead, drive this Step Functions endpoint (Sandflow, moto, LocalStack, AWS) over HTTP
    /// with SigV4-signed calls, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", conflicts_with_all = ["engine", "seconds"])]
    pub endpoint: Option<String>,
    #[command(flatten)]
    pub remote: crate::bench_endpoint::EndpointArgs,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The state machine definition (ASL JSON).
    pub definition: PathBuf,
    /// Execution input: JSON text, or @FILE to read it from a file.
    #[arg(long, value_name = "JSON|@FILE", default_value = "{}", value_parser = parse_input)]
    pub input: Value,
    /// What the Task state STATE returns (JSON) or how it fails (error:NAME:CAUSE).
    /// Repeat for one state to give a sequence of calls (e.g. retries); the last repeats.
    #[arg(long = "mock", value_name = "STATE=JSON|error:NAME:CAUSE", value_parser = parse_mock_flag)]
    pub mock: Vec<MockFlag>,
    /// A JSON file of mocks by state name: an output, {"error": .., "cause": ..}, or an array
    /// of those as a sequence. `--mock` flags replace a file's entry for their state.
    #[arg(long = "mocks", value_name = "FILE", value_parser = parse_mock_file_arg)]
    pub mock_files: Vec<MockFile>,
    /// Also print the execution history events.
    #[arg(long)]
    pub history: bool,
    #[arg(long = "type", value_enum, default_value_t = MachineTypeArg::Standard)]
    pub machine_type: MachineTypeArg,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The state machine definition (ASL JSON).
    pub definition: PathBuf,
    #[arg(long = "type", value_enum, default_value_t = MachineTypeArg::Standard)]
    pub machine_type: MachineTypeArg,
}

#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// Case files, or folders searched recursively for `*.json` cases.
    #[arg(required = true, value_name = "DIR")]
    pub roots: Vec<PathBuf>,
    /// Only cases whose id contains this text.
    #[arg(long, value_name = "SUBSTR")]
    pub filter: Option<String>,
    /// Also list passing cases and every difference of failing ones.
    #[arg(long)]
    pub verbose: bool,
    /// Seconds after which a still-running case counts as failed.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub case_timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MachineTypeArg {
    Standard,
    Express,
}

impl From<MachineTypeArg> for MachineType {
    fn from(t: MachineTypeArg) -> MachineType {
        match t {
            MachineTypeArg::Standard => MachineType::Standard,
            MachineTypeArg::Express => MachineType::Express,
        }
    }
}

/// The parsed content of one `--mocks FILE`.
#[derive(Debug, Clone)]
pub struct MockFile(pub Vec<(String, Vec<TaskOutcome>)>);

fn parse_mock_file_arg(path: &str) -> Result<MockFile, String> {
    parse_mock_file(Path::new(path)).map(MockFile)
}

/// `JSON` or `@FILE`.
pub fn parse_input(arg: &str) -> Result<Value, String> {
    let (text, origin) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?,
            path,
        ),
        None => (arg.to_string(), "--input"),
    };
    serde_json::from_str(&text).map_err(|e| format!("{origin} is not JSON: {e}"))
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Exec(args) => exec(args),
        Command::Validate(args) => validate(&args),
        Command::Conformance(args) => conformance(&args),
        Command::Task(args) => crate::task_cli::main(args),
        Command::Bench(args) => bench(&args),
        Command::Serve(args) => crate::serve::serve(&args),
        Command::Demo(args) => crate::demo::demo(args.listen, &args.data, args.guests.as_deref()),
        Command::Tenant(TenantCommand::Create { name, data }) => {
            crate::serve::admin(&crate::serve::Admin::Create(name), &data)
        }
        Command::Tenant(TenantCommand::List { data }) => {
            crate::serve::admin(&crate::serve::Admin::List, &data)
        }
        Command::Tenant(TenantCommand::Delete { name, data }) => {
            crate::serve::admin(&crate::serve::Admin::Delete(name), &data)
        }
        Command::Tenant(TenantCommand::Usage { name, since, data }) => {
            let since = since.unwrap_or_default();
            crate::serve::admin(&crate::serve::Admin::Usage(name, since), &data)
        }
        Command::Tenant(TenantCommand::Quota {
            name,
            open_executions,
            starts_per_second,
            start_burst,
            task_concurrency,
            fuel_per_second,
            fuel_burst,
            reset,
            data,
        }) => {
            let set = sandflow_store::tenant_quotas::Overrides {
                open_executions,
                starts_per_second,
                start_burst,
                task_concurrency,
                fuel_per_second,
                fuel_burst,
            };
            crate::serve::admin(&crate::serve::Admin::Quota(name, reset, set), &data)
        }
        Command::Tenant(TenantCommand::HttpAllow {
            name,
            origins,
            revoke,
            data,
        }) => crate::serve::admin(
            &crate::serve::Admin::HttpAllow(name, origins, revoke),
            &data,
        ),
        Command::Key(KeyCommand::Rotate { tenant, data }) => {
            crate::serve::admin(&crate::serve::Admin::Rotate(tenant), &data)
        }
        Command::Function(FunctionCommand::Grant {
            name,
            grants,
            tenant,
            data,
            revoke,
            replace,
            fuel,
        }) => {
            let fuel = match fuel.as_deref() {
                None => None,
                Some("default") => Some(None),
                Some(n) => match n.parse::<u64>() {
                    Ok(n) => Some(Some(n)),
                    Err(_) => {
                        eprintln!("sandflow: --fuel takes a number or `default`, not {n:?}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            let change = crate::api::lambda::GrantChange {
                add: grants,
                revoke,
                replace,
                fuel,
            };
            crate::serve::admin(&crate::serve::Admin::Grant(tenant, name, change), &data)
        }
    }
}

/// Shows which benchmark runs (on stderr, so stdout stays one JSON line per result) and
/// collects the results for the table printed at the end.
struct BenchProgress {
    done: usize,
    total: usize,
    rows: Vec<(String, String)>,
}

impl BenchProgress {
    fn new(total: usize) -> BenchProgress {
        BenchProgress {
            done: 0,
            total,
            rows: Vec::new(),
        }
    }

    fn start(&self, name: &str) {
        let width = 24;
        let filled = width * self.done / self.total.max(1);
        eprintln!(
            "[{}{}] {}/{} {name}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.done + 1,
            self.total
        );
    }

    fn finish(&mut self, line: &serde_json::Value, name: String, result: String) {
        println!("{line}");
        self.rows.push((name, result));
        self.done += 1;
    }

    fn table(&self) {
        let w = self.rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        eprintln!("\n{:<w$}  result", "benchmark");
        for (name, result) in &self.rows {
            eprintln!("{name:<w$}  {result}");
        }
    }
}

/// Thousands separators for the table.
fn grouped(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Prints one JSON line per scenario and mode (transitions/s on one thread), with progress
/// and a table of every result on stderr.
fn bench(args: &BenchArgs) -> ExitCode {
    if let Some(endpoint) = &args.endpoint {
        return crate::bench_endpoint::main(endpoint, &args.remote);
    }
    let budget = Duration::from_secs_f64(args.seconds.max(0.01));
    let scenarios = sandflow_core::bench::scenarios();
    let mut progress = BenchProgress::new(scenarios.len() * 2 + if args.engine { 4 } else { 0 });
    for s in scenarios {
        for history in [false, true] {
            let label = format!(
                "{} ({})",
                s.name,
                if history { "history" } else { "no history" }
            );
            progress.start(&label);
            let rate = s.measure(history, budget);
            let line = serde_json::json!({
                "scenario": s.name,
                "history": history,
                "transitions_per_second": rate.round(),
            });
            progress.finish(&line, label, format!("{} transitions/s", grouped(rate)));
        }
    }
    let code = if args.engine {
        engine_bench(args, &mut progress)
    } else {
        ExitCode::SUCCESS
    };
    progress.table();
    code
}

/// The engine benchmarks, one JSON line each, on a fresh store per benchmark.
fn engine_bench(args: &BenchArgs, progress: &mut BenchProgress) -> ExitCode {
    use sandflow_engine::bench;
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result: Result<(), String> = runtime.block_on(async {
        let fresh = || {
            tempfile::tempdir_in(&parent)
                .map_err(|e| format!("cannot create a store under {}: {e}", parent.display()))
        };
        let (n, c) = (args.executions, args.concurrency);
        for which in 0..3 {
            let label = [
                "standard_pass_chain_10",
                "standard_one_task",
                "express_sync_pass_chain_10",
            ][which];
            progress.start(label);
            let dir = fresh()?;
            let r = match which {
                0 => bench::standard_pass_chain(dir.path(), n, c).await,
                1 => bench::standard_task(dir.path(), n / 4, c).await,
                _ => bench::express_sync(dir.path(), n, c).await,
            };
            let r = r.map_err(|e| e.to_string())?;
            let line = serde_json::json!({
                "scenario": r.name,
                "executions": r.executions,
                "seconds": (r.seconds * 1000.0).round() / 1000.0,
                "executions_per_second": r.executions_per_second.round(),
                "transitions_per_second": r.transitions_per_second.round(),
                "writes_per_commit": (r.writes_per_commit * 10.0).round() / 10.0,
            });
            let result = format!(
                "{} transitions/s, {} executions/s",
                grouped(r.transitions_per_second),
                grouped(r.executions_per_second)
            );
            progress.finish(&line, r.name.to_string(), result);
        }
        progress.start("recovery");
        let dir = fresh()?;
        let r = bench::recovery(dir.path(), args.open)
            .await
            .map_err(|e| e.to_string())?;
        let line = serde_json::json!({
            "scenario": "recovery",
            "open_executions": r.open_executions,
            "restart_ms": r.restart.as_secs_f64() * 1000.0,
            "bytes_per_waiting_execution": r.bytes_per_waiting_execution.round(),
        });
        let result = format!(
            "restart with {} open executions in {:.1} ms, {} bytes per waiting execution",
            grouped(r.open_executions as f64),
            r.restart.as_secs_f64() * 1000.0,
            grouped(r.bytes_per_waiting_execution)
        );
        progress.finish(&line, "recovery".into(), result);
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads a file named on the command line of `subcommand`; an unreadable one is a usage error
/// (exit 2).
fn read_arg_file(subcommand: &str, path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| {
        let mut cmd = Cli::command();
        cmd.build();
        let cmd = cmd
            .find_subcommand_mut(subcommand)
            .expect("known subcommand");
        cmd.error(
            clap::error::ErrorKind::Io,
            format!("cannot read {}: {e}", path.display()),
        )
        .exit()
    })
}

fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("JSON values serialise")
    );
}

fn exec(args: ExecArgs) -> ExitCode {
    let text = read_arg_file("exec", &args.definition);
    let machine_type = MachineType::from(args.machine_type);
    let machine = match parse_definition(&text, machine_type) {
        Ok(m) => m,
        Err(diags) => {
            eprintln!(
                "{}",
                serde_json::to_string_pretty(&aws_json::invalid_definition(&diags))
                    .expect("JSON values serialise")
            );
            return ExitCode::FAILURE;
        }
    };
    let start_time = DateTime::<Utc>::from(std::time::SystemTime::now());
    let opts = RunOptions {
        machine_type,
        start_time,
        seed: start_time.timestamp_nanos_opt().unwrap_or_default() as u64,
        execution_name: format!("exec-{}", start_time.format("%Y%m%dT%H%M%S%3f")),
        state_machine_name: args
            .definition
            .file_stem()
            .and_then(|s| s.to_str())
            .map(state_machine_name)
            .unwrap_or_else(|| "StateMachine".into()),
        record_history: args.history,
        ..RunOptions::default()
    };
    let files = args.mock_files.into_iter().map(|f| f.0).collect();
    let mut mocks = MockSet::new(files, args.mock);
    let result = run(&machine, args.input, &opts, &mut mocks);
    print_json(&aws_json::execution(&result, args.history));
    if result.status == ExecutionStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A state machine name from a file stem: AWS allows letters, digits, `-` and `_` (1-80).
fn state_machine_name(stem: &str) -> String {
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(80)
        .collect();
    if name.is_empty() {
        "StateMachine".into()
    } else {
        name
    }
}

fn validate(args: &ValidateArgs) -> ExitCode {
    let text = read_arg_file("validate", &args.definition);
    match parse_definition(&text, args.machine_type.into()) {
        Ok(_) => {
            print_json(&aws_json::validate_response(None));
            ExitCode::SUCCESS
        }
        Err(diags) => {
            print_json(&aws_json::validate_response(Some(&diags)));
            ExitCode::FAILURE
        }
    }
}

fn conformance(args: &ConformanceArgs) -> ExitCode {
    let opts = conformance::Options {
        roots: args.roots.clone(),
        filter: args.filter.clone(),
        verbose: args.verbose,
        case_timeout: Duration::from_secs(args.case_timeout),
    };
    let mut stdout = std::io::stdout().lock();
    match conformance::run_cases(&opts, &mut stdout) {
        Ok(summary) if summary.failed == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("sandflow conformance: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sandflow").chain(args.iter().copied()))
    }

    #[test]
    fn bench_table_numbers_have_thousands_separators() {
        assert_eq!(
            [0.0, 999.4, 1000.0, 112_051.2, 6_655_815.0].map(grouped),
            ["0", "999", "1,000", "112,051", "6,655,815"]
        );
    }

    #[test]
    fn exec_arguments() {
        let cli = parse(&[
            "exec",
            "def.json",
            "--input",
            "{\"a\":1}",
            "--mock",
            "A={\"ok\":true}",
            "--mock",
            "A=error:E:c",
            "--history",
            "--type",
            "express",
        ])
        .unwrap();
        let Command::Exec(args) = cli.command else {
            panic!("expected exec");
        };
        assert_eq!(args.definition, PathBuf::from("def.json"));
        assert_eq!(args.input, json!({"a": 1}));
        assert_eq!(args.mock.len(), 2);
        assert!(args.history);
        assert_eq!(args.machine_type, MachineTypeArg::Express);
    }

    #[test]
    fn exec_defaults_to_empty_input_and_standard() {
        let Command::Exec(args) = parse(&["exec", "d.json"]).unwrap().command else {
            panic!("expected exec");
        };
        assert_eq!(args.input, json!({}));
        assert_eq!(args.machine_type, MachineTypeArg::Standard);
        assert!(!args.history && args.mock.is_empty() && args.mock_files.is_empty());
    }

    #[test]
    fn bad_usage_is_a_clap_error() {
        use clap::error::ErrorKind;
        assert_eq!(
            parse(&["exec", "d.json", "--input", "{nope"])
                .unwrap_err()
                .kind(),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            parse(&["exec", "d.json", "--mock", "nope"])
                .unwrap_err()
                .kind(),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            parse(&["exec", "d.json", "--type", "batch"])
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidValue
        );
        assert!(parse(&["conformance"]).is_err());
        assert!(parse(&["exec"]).is_err());
    }

    #[test]
    fn input_from_a_file() {
        let path = std::env::temp_dir().join(format!("sandflow-input-{}.json", std::process::id()));
        std::fs::write(&path, "[1, 2]").unwrap();
        let v = parse_input(&format!("@{}", path.display()));
        std::fs::remove_file(&path).unwrap();
        assert_eq!(v.unwrap(), json!([1, 2]));
        assert!(parse_input("@/nonexistent/input.json").is_err());
    }

    #[test]
    fn conformance_arguments() {
        let Command::Conformance(args) =
            parse(&["conformance", "a", "b", "--filter", "lambda", "--verbose"])
                .unwrap()
                .command
        else {
            panic!("expected conformance");
        };
        assert_eq!(args.roots, [PathBuf::from("a"), PathBuf::from("b")]);
        assert_eq!(args.filter.as_deref(), Some("lambda"));
        assert!(args.verbose);
        assert_eq!(args.case_timeout, 30);
    }

    #[test]
    fn state_machine_names_are_sanitised() {
        assert_eq!(state_machine_name("definition.asl"), "definition-asl");
        assert_eq!(state_machine_name(""), "StateMachine");
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
