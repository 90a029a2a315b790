//! The Lambda API subset over the tenant's WASM functions (REST-JSON under
//! `/2015-03-31/functions`): CreateFunction (Code.ZipFile = raw .wasm or a zip holding one
//! .wasm, compiled at upload), GetFunction, GetFunctionConfiguration, ListFunctions,
//! UpdateFunctionCode, UpdateFunctionConfiguration, DeleteFunction and Invoke; plus Sandflow's
//! own `GET|PUT .../functions/NAME/grants` for capability grants and the fuel budget.

use std::io::Read;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sandflow_engine::{Caller, FunctionConfig, WasmError, wasm};
use sandflow_runtime::{Grant, Grants, Outcome};
use sandflow_store::functions::{self, Function};
use sandflow_store::{invocations, tags as tag_rows};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::errors::{ApiError, ApiResult};
use super::params::Params;
use super::sfn::uuid;

/// CreateFunction and UpdateFunctionCode: a base64 zip of Lambda's 50 MB upload quota, with
/// room for the JSON around it.
pub const CODE_BODY_LIMIT: usize = 72 * 1024 * 1024;
/// Invoke's synchronous payload quota (6 MB).
pub const INVOKE_BODY_LIMIT: usize = 6 * 1024 * 1024;
/// The other actions.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// Invocations GetFunction shows.
const RECENT_INVOCATIONS: usize = 10;
/// How much of the log Invoke returns with `LogType: Tail`.
const LOG_TAIL: usize = 4096;

/// The request body limit of a Lambda path.
pub fn body_limit(path: &str) -> usize {
    if path.ends_with("/invocations") {
        INVOKE_BODY_LIMIT
    } else if path.trim_end_matches('/') == "/2015-03-31/functions" || path.ends_with("/code") {
        CODE_BODY_LIMIT
    } else {
        BODY_LIMIT
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/2015-03-31/functions", post(create).get(list))
        .route("/2015-03-31/functions/", post(create).get(list))
        .route(
            "/2015-03-31/functions/{name}",
            get(get_function).delete(delete),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(get_configuration).put(update_configuration),
        )
        .route("/2015-03-31/functions/{name}/code", put(update_code))
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .route(
            "/2015-03-31/functions/{name}/grants",
            get(get_grants).put(put_grants),
        )
}

type Answer = ApiResult<Response>;

fn json_response(status: StatusCode, v: Value) -> Response {
    let mut r = (status, v.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn not_found(caller: &Caller, name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        format!("Function not found: {}", function_arn(caller, name)),
    )
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterValueException", message)
}

fn function_arn(caller: &Caller, name: &str) -> String {
    format!(
        "arn:aws:lambda:{}:{}:function:{name}",
        caller.region, caller.account
    )
}

/// Lambda's function name rule.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The function a path or `FunctionName` names: a name, `ACCOUNT:function:NAME` or a full
/// ARN, optionally qualified with `$LATEST`. Another account's ARN is simply not found.
fn resolve(caller: &Caller, reference: &str) -> ApiResult<String> {
    let parts: Vec<&str> = reference.split(':').collect();
    let (account, rest) = match parts.as_slice() {
        ["arn", _, "lambda", _, account, "function", rest @ ..] => (Some(*account), rest),
        [account, "function", rest @ ..] => (Some(*account), rest),
        rest => (None, rest),
    };
    let (name, qualifier) = match rest {
        [name] => (*name, None),
        [name, q] => (*name, Some(*q)),
        _ => ("", None),
    };
    if !valid_name(name) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{reference}' at 'functionName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: \
             (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}(-gov)?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?\
             (function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
        )));
    }
    if account.is_some_and(|a| a != caller.account) {
        return Err(not_found(caller, name));
    }
    match qualifier {
        None | Some("$LATEST") => Ok(name.to_string()),
        Some(q) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "Function not found: {}:{q} (this server has no published versions or aliases)",
                function_arn(caller, name)
            ),
        )),
    }
}

async fn load(state: &AppState, caller: &Caller, name: &str) -> ApiResult<Function> {
    let (t, n) = (caller.tenant_id, name.to_string());
    state
        .read(move |c| functions::get(c, t, &n))
        .await?
        .ok_or_else(|| not_found(caller, name))
}

/// Lambda's `LastModified`: `2026-12-01T11:34:14.000+0000`.
fn last_modified(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
        .to_string()
}

/// Lambda's CodeSha256 is base64; the store keys code by hex.
fn code_sha256(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    STANDARD.encode(bytes)
}

/// FunctionConfiguration as Lambda returns it.
fn configuration(f: &Function) -> Value {
    let cfg = FunctionConfig::of(f);
    let mut v = json!({
        "FunctionName": f.name,
        "FunctionArn": f.arn,
        "Role": cfg.role.unwrap_or_default(),
        "CodeSize": f.code_size,
        "Description": cfg.description.unwrap_or_default(),
        "Timeout": f.timeout_s,
        "MemorySize": f.memory_mib,
        "LastModified": last_modified(f.updated_ms),
        "CodeSha256": code_sha256(&f.sha256),
        "Version": "$LATEST",
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": f.revision_id,
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
    });
    if let Some(r) = cfg.runtime {
        v["Runtime"] = json!(r);
    }
    if let Some(h) = cfg.handler {
        v["Handler"] = json!(h);
    }
    v
}

fn grants_of(f: &Function) -> ApiResult<Grants> {
    serde_json::from_str(&f.grants).map_err(ApiError::internal)
}

/// Sandflow's own view of a function: ABI, grants and fuel (GetFunction's `Sandflow` member
/// and the grants endpoint's answer).
fn sandflow_view(state: &AppState, f: &Function) -> ApiResult<Value> {
    let default_fuel = state.functions().runtime().config().defaults.fuel;
    Ok(grants_view(f, &grants_of(f)?, default_fuel))
}

/// A function's ABI, grants in their text form, and fuel budget (set and effective).
fn grants_view(f: &Function, grants: &Grants, default_fuel: u64) -> Value {
    let fuel = FunctionConfig::of(f).fuel;
    json!({
        "abi": f.abi,
        "grants": grants.list().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "fuel": fuel,
        "effectiveFuel": fuel.unwrap_or(default_fuel),
    })
}

/// The wasm in a `ZipFile`: the bytes themselves, or the one `.wasm` inside a zip.
fn wasm_of(zip_file: &[u8]) -> ApiResult<Vec<u8>> {
    if zip_file.starts_with(b"\0asm") {
        return Ok(zip_file.to_vec());
    }
    if !zip_file.starts_with(b"PK\x03\x04") {
        return Err(invalid(
            "Code.ZipFile must be a WebAssembly binary (.wasm) or a zip holding exactly one .wasm",
        ));
    }
    let unzip_failed = || {
        invalid("Could not unzip uploaded file. Please check your file, then try to upload again.")
    };
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zip_file)).map_err(|_| unzip_failed())?;
    let wasm: Vec<usize> = (0..archive.len())
        .filter(|&i| {
            archive
                .name_for_index(i)
                .and_then(Result::ok)
                .is_some_and(|n| n.ends_with(".wasm") && !n.ends_with('/'))
        })
        .collect();
    let [index] = wasm.as_slice() else {
        return Err(invalid(format!(
            "the zip must hold exactly one .wasm file; it holds {}",
            wasm.len()
        )));
    };
    let mut entry = archive.by_index(*index).map_err(|_| unzip_failed())?;
    // The declared size is only a hint; the read is bounded either way.
    let mut out = Vec::with_capacity((entry.size() as usize).min(CODE_BODY_LIMIT));
    entry
        .by_ref()
        .take(4 * CODE_BODY_LIMIT as u64)
        .read_to_end(&mut out)
        .map_err(|_| unzip_failed())?;
    Ok(out)
}

/// The code of a `Code` object (CreateFunction) or of the request itself (UpdateFunctionCode):
/// its `ZipFile`, decoded. Other sources (S3, images) are refused.
fn zip_file(source: &mut Map<String, Value>) -> ApiResult<Vec<u8>> {
    for other in ["S3Bucket", "S3Key", "ImageUri"] {
        if source.get(other).is_some_and(|v| !v.is_null()) {
            return Err(invalid(format!(
                "{other} is not supported: upload the code as ZipFile"
            )));
        }
    }
    match source.remove("ZipFile") {
        Some(Value::String(b64)) => STANDARD
            .decode(b64)
            .map_err(|_| ApiError::serialization("ZipFile is not valid base64")),
        Some(_) => Err(ApiError::serialization("ZipFile must be a base64 string")),
        None => Err(invalid("Code.ZipFile is required")),
    }
}

/// Compiles the upload; a refusal says why.
async fn compile(state: &AppState, wasm: &[u8]) -> ApiResult<sandflow_runtime::Artifact> {
    state.functions().compile(wasm).await.map_err(|e| match e {
        WasmError::Refused(m) => invalid(format!("The function's code was refused: {m}")),
        other => ApiError::internal(other),
    })
}

/// Reads MemorySize and Timeout with Lambda's ranges, capped by this server's memory limit.
fn limits(state: &AppState, p: &mut Params) -> ApiResult<(Option<i64>, Option<i64>)> {
    let memory = p.opt_int("MemorySize", 128, 10240)?;
    let timeout = p.opt_int("Timeout", 1, 900)?;
    let max = state.functions().runtime().config().max_memory_mib as i64;
    if let Some(m) = memory.filter(|m| *m > max) {
        return Err(invalid(format!(
            "MemorySize {m} is more than this server's limit of {max} MiB"
        )));
    }
    Ok((memory, timeout))
}

/// Environment variables would be a capability no guest has (no env in the sandbox).
fn refuse_environment(p: &mut Params) -> ApiResult<()> {
    let env = p.opt_object("Environment")?;
    let vars = env
        .as_ref()
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_object);
    if vars.is_some_and(|v| !v.is_empty()) {
        return Err(invalid(
            "Environment variables are not available: WASM tasks have no environment. \
             Pass settings in the input or grant a KV table.",
        ));
    }
    Ok(())
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Answer {
    let mut p = Params::parse(&body)?;
    let name = p.req_str("FunctionName", 1, 140, false)?;
    let role = p.req_str("Role", 1, 2048, false)?;
    let code = p.take("Code");
    let description = p.opt_str("Description", 0, 256, false)?;
    let handler = p.opt_str("Handler", 0, 128, false)?;
    let runtime = p.opt_str("Runtime", 0, 64, false)?;
    let (memory, timeout) = limits(&state, &mut p)?;
    let package = p.opt_enum("PackageType", &["Zip", "Image"])?;
    p.opt_bool("Publish")?;
    let tags = p.opt_object("Tags")?.unwrap_or_default();
    refuse_environment(&mut p)?;
    if code.is_none() {
        p.missing("Code");
    }
    p.finish()?;
    let Some(Value::Object(mut code)) = code else {
        return Err(ApiError::serialization("'Code' must be an object"));
    };
    if package.as_deref() == Some("Image") {
        return Err(invalid(
            "PackageType Image is not supported: upload a .wasm as Zip",
        ));
    }
    // A name, or an ARN of the caller's account naming it.
    let name = resolve(&caller, &name)?;
    let wasm = wasm_of(&zip_file(&mut code)?)?;
    let config = FunctionConfig {
        description,
        role: Some(role),
        handler,
        runtime,
        fuel: None,
    };
    let tags: Vec<(String, String)> = tags
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
        .collect();
    let settings = Settings {
        memory_mib: memory.unwrap_or(128),
        timeout_s: timeout.unwrap_or(3),
        grants: Grants::default(),
        config,
        tags,
    };
    let f = install(&state, &caller, name, wasm, settings).await?;
    Ok(json_response(StatusCode::CREATED, configuration(&f)))
}

/// A new function's settings besides its name and code.
pub struct Settings {
    pub memory_mib: i64,
    pub timeout_s: i64,
    pub grants: Grants,
    pub config: FunctionConfig,
    pub tags: Vec<(String, String)>,
}

/// Compiles and stores a new function; `ResourceConflictException` if the name is taken.
pub async fn install(
    state: &AppState,
    caller: &Caller,
    name: String,
    wasm: Vec<u8>,
    settings: Settings,
) -> ApiResult<Function> {
    let artifact = compile(state, &wasm).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let f = Function {
        tenant_id: caller.tenant_id,
        arn: function_arn(caller, &name),
        name,
        abi: wasm::abi_name(artifact.abi).into(),
        sha256: artifact.sha256,
        code_size: wasm.len() as i64,
        memory_mib: settings.memory_mib,
        timeout_s: settings.timeout_s,
        grants: serde_json::to_string(&settings.grants).map_err(ApiError::internal)?,
        config: serde_json::to_string(&settings.config).map_err(ApiError::internal)?,
        revision_id: uuid(),
        created_ms: now,
        updated_ms: now,
    };
    let (row, tags) = (f.clone(), settings.tags);
    let created = state
        .write(move |c| match functions::insert(c, &row, &wasm) {
            Ok(()) => tag_rows::put(c, row.tenant_id, &row.arn, &tags).map(|_| true),
            Err(sandflow_store::Error::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        })
        .await?;
    if !created {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ResourceConflictException",
            format!("Function already exist: {}", f.name),
        ));
    }
    Ok(f)
}

async fn get_function(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Answer {
    let name = resolve(&caller, &reference)?;
    let f = load(&state, &caller, &name).await?;
    let (t, arn) = (caller.tenant_id, f.arn.clone());
    let name = f.name.clone();
    let (tags, recent) = state
        .read(move |c| {
            Ok((
                tag_rows::list(c, t, &arn)?,
                invocations::recent(c, t, &name, RECENT_INVOCATIONS)?,
            ))
        })
        .await?;
    let recent: Vec<Value> = recent
        .iter()
        .map(|i| {
            json!({
                "startedAt": last_modified(i.started_ms),
                "status": i.status,
                "error": i.error,
                "elapsedMicros": i.elapsed_us,
                "fuel": i.fuel,
                "executionArn": i.execution_arn,
            })
        })
        .collect();
    let mut view = sandflow_view(&state, &f)?;
    view["recentInvocations"] = json!(recent);
    let tags: Map<String, Value> = tags.into_iter().map(|(k, v)| (k, json!(v))).collect();
    Ok(json_response(
        StatusCode::OK,
        json!({
            "Configuration": configuration(&f),
            "Code": {"RepositoryType": "Sandflow"},
            "Tags": tags,
            "Sandflow": view,
        }),
    ))
}

async fn get_configuration(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Answer {
    let name = resolve(&caller, &reference)?;
    let f = load(&state, &caller, &name).await?;
    Ok(json_response(StatusCode::OK, configuration(&f)))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Answer {
    let limit = match q.max_items.as_deref() {
        None => 50,
        Some(s) => match s.parse::<usize>() {
            Ok(n @ 1..=10000) => n,
            _ => {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{s}' at 'maxItems' failed to satisfy \
                     constraint: Member must have value between 1 and 10000"
                )));
            }
        },
    };
    let after = match q.marker {
        None => None,
        Some(m) => Some(
            URL_SAFE_NO_PAD
                .decode(&m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| invalid(format!("Invalid Marker: '{m}'")))?,
        ),
    };
    let t = caller.tenant_id;
    let mut page = state
        .read(move |c| functions::list(c, t, after.as_deref(), limit + 1))
        .await?;
    let more = page.len() > limit;
    page.truncate(limit);
    let mut v = json!({"Functions": page.iter().map(configuration).collect::<Vec<_>>()});
    if more && let Some(last) = page.last() {
        v["NextMarker"] = json!(URL_SAFE_NO_PAD.encode(&last.name));
    }
    Ok(json_response(StatusCode::OK, v))
}

/// Fails with Lambda's PreconditionFailedException when `RevisionId` is given and stale.
fn check_revision(p: &mut Params, f: &Function) -> ApiResult<()> {
    if let Some(r) = p.opt_str("RevisionId", 0, 128, false)?
        && r != f.revision_id
    {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailedException",
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
        ));
    }
    Ok(())
}

async fn update_code(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
    body: Bytes,
) -> Answer {
    let name = resolve(&caller, &reference)?;
    let mut p = Params::parse(&body)?;
    p.opt_bool("Publish")?;
    p.opt_bool("DryRun")?;
    let f = load(&state, &caller, &name).await?;
    check_revision(&mut p, &f)?;
    let mut source = Map::new();
    for key in ["ZipFile", "S3Bucket", "S3Key", "ImageUri"] {
        if let Some(v) = p.take(key) {
            source.insert(key.into(), v);
        }
    }
    p.finish()?;
    let wasm = wasm_of(&zip_file(&mut source)?)?;
    let artifact = compile(&state, &wasm).await?;
    let f = Function {
        abi: wasm::abi_name(artifact.abi).into(),
        sha256: artifact.sha256,
        code_size: wasm.len() as i64,
        revision_id: uuid(),
        updated_ms: chrono::Utc::now().timestamp_millis(),
        ..f
    };
    let row = f.clone();
    let found = state
        .write(move |c| functions::update_code(c, &row, &wasm))
        .await?;
    if !found {
        return Err(not_found(&caller, &name));
    }
    Ok(json_response(StatusCode::OK, configuration(&f)))
}

async fn update_configuration(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
    body: Bytes,
) -> Answer {
    let name = resolve(&caller, &reference)?;
    let mut p = Params::parse(&body)?;
    let (memory, timeout) = limits(&state, &mut p)?;
    let description = p.opt_str("Description", 0, 256, false)?;
    let role = p.opt_str("Role", 1, 2048, false)?;
    let handler = p.opt_str("Handler", 0, 128, false)?;
    let runtime = p.opt_str("Runtime", 0, 64, false)?;
    refuse_environment(&mut p)?;
    let f = load(&state, &caller, &name).await?;
    check_revision(&mut p, &f)?;
    p.finish()?;
    let mut config = FunctionConfig::of(&f);
    config.description = description.or(config.description);
    config.role = role.or(config.role);
    config.handler = handler.or(config.handler);
    config.runtime = runtime.or(config.runtime);
    let f = Function {
        memory_mib: memory.unwrap_or(f.memory_mib),
        timeout_s: timeout.unwrap_or(f.timeout_s),
        config: serde_json::to_string(&config).map_err(ApiError::internal)?,
        revision_id: uuid(),
        updated_ms: chrono::Utc::now().timestamp_millis(),
        ..f
    };
    save_settings(&state, &caller, &f).await?;
    Ok(json_response(StatusCode::OK, configuration(&f)))
}

async fn save_settings(state: &AppState, caller: &Caller, f: &Function) -> ApiResult<()> {
    let row = f.clone();
    if state
        .write(move |c| functions::update_settings(c, &row))
        .await?
    {
        Ok(())
    } else {
        Err(not_found(caller, &f.name))
    }
}

async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Answer {
    let name = resolve(&caller, &reference)?;
    let (t, n, arn) = (caller.tenant_id, name.clone(), function_arn(&caller, &name));
    let deleted = state
        .write(move |c| {
            let found = functions::delete(c, t, &n)?;
            if found {
                tag_rows::delete_all(c, t, &arn)?;
            }
            Ok(found)
        })
        .await?;
    if !deleted {
        return Err(not_found(&caller, &name));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct InvokeQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

async fn invoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
    Query(q): Query<InvokeQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let reference = match q.qualifier {
        Some(qual) => format!("{reference}:{qual}"),
        None => reference,
    };
    let name = resolve(&caller, &reference)?;
    let header_value = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    let kind = header_value("x-amz-invocation-type").unwrap_or("RequestResponse");
    if !matches!(kind, "RequestResponse" | "Event" | "DryRun") {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{kind}' at 'invocationType' failed to satisfy \
             constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
        )));
    }
    let tail = header_value("x-amz-log-type") == Some("Tail");
    let payload = if body.iter().all(u8::is_ascii_whitespace) {
        "{}".to_string()
    } else {
        let text = String::from_utf8(body.to_vec())
            .map_err(|_| invalid_content("the payload is not UTF-8"))?;
        serde_json::from_str::<serde::de::IgnoredAny>(&text)
            .map_err(|e| invalid_content(&e.to_string()))?;
        text
    };
    // Existence first, so DryRun and Event answer as Lambda does for a missing function.
    load(&state, &caller, &name).await?;
    match kind {
        "DryRun" => return Ok(StatusCode::NO_CONTENT.into_response()),
        "Event" => {
            let (state, caller) = (state.clone(), caller.clone());
            tokio::spawn(async move {
                if let Err(e) = state
                    .functions()
                    .run(&caller, &name, payload, None, None)
                    .await
                {
                    tracing::error!(function = name, error = %e, "an Event invocation failed to run");
                }
            });
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        _ => {}
    }
    let report = state
        .functions()
        .run(&caller, &name, payload, None, None)
        .await
        .map_err(|e| match e {
            WasmError::Throttled(m) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequestsException", m)
                    .with("Reason", json!("ConcurrentInvocationLimitExceeded"))
            }
            other => ApiError::internal(other),
        })?
        .ok_or_else(|| not_found(&caller, &name))?;
    let (body, function_error) = match &report.outcome {
        Outcome::Succeeded { output } => (output.clone(), false),
        other => {
            let (error, cause) = other.error().unwrap_or_default();
            (
                json!({"errorType": error, "errorMessage": cause}).to_string(),
                true,
            )
        }
    };
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "x-amz-executed-version",
        HeaderValue::from_static("$LATEST"),
    );
    if function_error {
        h.insert(
            "x-amz-function-error",
            HeaderValue::from_static("Unhandled"),
        );
    }
    if tail {
        let log = wasm::log_text(&report);
        let mut start = log.len().saturating_sub(LOG_TAIL);
        while !log.is_char_boundary(start) {
            start += 1;
        }
        if let Ok(v) = HeaderValue::from_str(&STANDARD.encode(&log[start..])) {
            h.insert("x-amz-log-result", v);
        }
    }
    Ok(r)
}

fn invalid_content(why: &str) -> ApiError {
    ApiError::client(
        "InvalidRequestContentException",
        format!("Could not parse request body into json: {why}"),
    )
}

/// The grants endpoint's body: grants in their text form (`http:POST:URL`, `kv:TABLE`,
/// `queue:NAME`, `log`, `clock`, `random`) and the fuel budget (`null`: the server's default).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantsBody {
    grants: Vec<String>,
    #[serde(default)]
    fuel: Option<u64>,
}

async fn get_grants(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
) -> Answer {
    let name = resolve(&caller, &reference)?;
    let f = load(&state, &caller, &name).await?;
    Ok(json_response(StatusCode::OK, sandflow_view(&state, &f)?))
}

async fn put_grants(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(reference): Path<String>,
    body: Bytes,
) -> Answer {
    let name = resolve(&caller, &reference)?;
    let req: GrantsBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::serialization(format!(
            "expected {{\"grants\": [\"kv:TABLE\", ...], \"fuel\": N}}: {e}"
        ))
    })?;
    let grants = parse_grants(&req.grants)?;
    if req.fuel == Some(0) {
        return Err(invalid("fuel must be positive"));
    }
    let f = load(&state, &caller, &name).await?;
    let f = with_grants(f, &grants, req.fuel)?;
    save_settings(&state, &caller, &f).await?;
    Ok(json_response(StatusCode::OK, sandflow_view(&state, &f)?))
}

/// Grants from their text forms; the first bad one is refused with its reason.
pub fn parse_grants(items: &[String]) -> ApiResult<Grants> {
    let mut grants = Grants::default();
    for item in items {
        let g: Grant = item
            .parse()
            .map_err(|e: sandflow_runtime::GrantError| invalid(e.to_string()))?;
        grants.add(g);
    }
    Ok(grants)
}

/// `f` with these grants and fuel budget, and a new revision.
pub fn with_grants(f: Function, grants: &Grants, fuel: Option<u64>) -> ApiResult<Function> {
    let mut config = FunctionConfig::of(&f);
    config.fuel = fuel;
    Ok(Function {
        grants: serde_json::to_string(grants).map_err(ApiError::internal)?,
        config: serde_json::to_string(&config).map_err(ApiError::internal)?,
        revision_id: uuid(),
        updated_ms: chrono::Utc::now().timestamp_millis(),
        ..f
    })
}

/// A change to a function's grants and fuel, as `sandflow function grant` gives it.
#[derive(Debug, Default, Clone)]
pub struct GrantChange {
    pub add: Vec<String>,
    pub revoke: Vec<String>,
    /// Drop every existing grant first.
    pub replace: bool,
    /// `Some(None)`: back to the server's default fuel.
    pub fuel: Option<Option<u64>>,
}

/// Applies `change` to the tenant's function directly in the store (the server need not run;
/// a running one sees it at the next invocation). Returns the grants endpoint's view.
pub fn grant_offline(
    store: &sandflow_store::Store,
    tenant: &str,
    name: &str,
    change: &GrantChange,
    default_fuel: u64,
) -> Result<Value, String> {
    let tenant = store
        .read(|c| sandflow_store::tenants::by_name(c, tenant))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("tenant {tenant} does not exist"))?;
    let f = store
        .read(|c| functions::get(c, tenant.id, name))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("tenant {} has no function {name}", tenant.name))?;
    let current = if change.replace {
        Grants::default()
    } else {
        grants_of(&f).map_err(|e| e.message)?
    };
    let add = parse_grants(&change.add).map_err(|e| e.message)?;
    let revoke = parse_grants(&change.revoke).map_err(|e| e.message)?.list();
    let mut grants = Grants::default();
    for g in current.list().into_iter().chain(add.list()) {
        if !revoke.contains(&g) {
            grants.add(g);
        }
    }
    if change.fuel == Some(Some(0)) {
        return Err("fuel must be positive".into());
    }
    let fuel = match change.fuel {
        Some(f) => f,
        None => FunctionConfig::of(&f).fuel,
    };
    let f = with_grants(f, &grants, fuel).map_err(|e| e.message)?;
    let row = f.clone();
    store
        .write(move |c| functions::update_settings(c, &row))
        .map_err(|e| e.to_string())?;
    let mut view = grants_view(&f, &grants, default_fuel);
    view["function"] = json!(f.name);
    Ok(view)
}
