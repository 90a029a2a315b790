//! `sandflow serve` (the HTTP endpoint on a data directory, stopped gracefully by SIGTERM or
//! Ctrl-C) and the admin commands on a data directory: `tenant create|list|delete` and
//! `key rotate`, which print JSON and work while a server runs on the same directory.

use std::path::Path;
use std::process::ExitCode;

use sandflow_store::Store;
use serde_json::Value;

use crate::api::{self, AppState, Options};
use crate::tenancy::{self, Sealer};

/// Runs the server until SIGTERM/SIGINT; in-flight requests finish, then the store's writer
/// drains its queued commits when the last handle drops.
pub fn serve(args: &crate::cli::ServeArgs) -> ExitCode {
    let (listen, data, dev) = (args.listen, args.data.as_path(), args.dev);
    init_tracing("info");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    rt.block_on(async {
        let opts = Options {
            dev,
            task_quotas: sandflow_engine::TaskQuotas {
                concurrency: args.task_concurrency.max(1),
                fuel_per_second: args.fuel_per_second.map(|f| (f as f64, f as f64 * 10.0)),
            },
            sns: api::sns::SnsOptions {
                http_allow: args.sns_http_allow.clone(),
                smtp_relay: args.smtp_relay.clone(),
            },
            ..Options::default()
        };
        let state = match AppState::open(data, &opts).await {
            Ok(s) => s,
            Err(e) => return fail(format!("cannot open {}: {e}", data.display())),
        };
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => return fail(format!("cannot listen on {listen}: {e}")),
        };
        let addr = listener.local_addr().map_or(listen, |a| a);
        tracing::info!(%addr, data = %data.display(), dev, "sandflow serving");
        tracing::info!(
            "console at http://{addr}/console/{}",
            if dev {
                " (dev sign-in: test / test)"
            } else {
                ""
            }
        );
        let app = api::router(state);
        match axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
        {
            Ok(()) => {
                tracing::info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("server error: {e}")),
        }
    })
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Logs to stderr; `RUST_LOG` overrides the default level.
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn fail(message: String) -> ExitCode {
    eprintln!("sandflow: {message}");
    ExitCode::FAILURE
}

/// The admin commands on a data directory.
#[derive(Debug, Clone)]
pub enum Admin {
    Create(String),
    List,
    Delete(String),
    Rotate(String),
    Usage(String, chrono::NaiveDate),
    /// Tenant, origins to allow, origins to revoke.
    HttpAllow(String, Vec<String>, Vec<String>),
    /// Tenant, function, change.
    Grant(String, String, crate::api::lambda::GrantChange),
    /// Tenant, reset first, overrides to set.
    Quota(String, bool, sandflow_store::tenant_quotas::Overrides),
}

pub fn admin(cmd: &Admin, data: &Path) -> ExitCode {
    let open = || -> tenancy::Result<(Store, Sealer)> {
        let sealer = Sealer::open(data)?;
        let store = Store::open(&tenancy::db_path(data))?;
        Ok((store, sealer))
    };
    let result = open().and_then(|(store, sealer)| match cmd {
        Admin::Create(name) => tenancy::create(&store, &sealer, name),
        Admin::List => tenancy::list(&store),
        Admin::Delete(name) => {
            tenancy::delete(&store, name).map(|()| serde_json::json!({"deleted": name}))
        }
        Admin::Rotate(name) => tenancy::rotate(&store, &sealer, name),
        Admin::Usage(name, since) => tenancy::usage(&store, name, *since),
        Admin::HttpAllow(name, allow, revoke) => tenancy::http_allow(&store, name, allow, revoke),
        Admin::Quota(name, reset, set) => tenancy::quota(&store, name, *reset, set),
        Admin::Grant(tenant, function, change) => {
            let default_fuel = sandflow_runtime::Limits::default().fuel;
            crate::api::lambda::grant_offline(&store, tenant, function, change, default_fuel)
                .map_err(tenancy::Error::Invalid)
        }
    });
    match result {
        Ok(v) => {
            print_line(&v);
            ExitCode::SUCCESS
        }
        Err(e) => fail(e.to_string()),
    }
}

fn print_line(v: &Value) {
    println!("{v}");
}
