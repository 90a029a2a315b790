//! The `sandflow` binary under test, built from this workspace, and a helper to run it.
//!
//! Cargo gives integration tests only their own package's binaries (`CARGO_BIN_EXE_*`), and
//! `sandflow` lives in another package. Taking `target/<profile>/sandflow` as found is not safe
//! either: every checkout building into the same target directory writes that one path, so it
//! may hold another checkout's build. So, once per test run:
//!
//! 1. build `sandflow` with the cargo that runs these tests (same target dir and profile as this
//!    test executable, which sits in `<target>/<profile>/deps/`);
//! 2. take cargo's build lock (`<target>/<profile>/.cargo-lock`) so no build can replace the
//!    binary meanwhile, and check from `<target>/<profile>/sandflow.d` (cargo's dep-info for the
//!    binary) that it was built from this workspace's sources; if another build got there
//!    first, build again;
//! 3. copy it to a path of this workspace's own (`<target>/<profile>/sandflow-tests/<hash>/`)
//!    and run that copy.
//!
//! `SANDFLOW_BIN=/path/to/sandflow` skips all of this and tests that binary.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root (this package is `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// Path of the binary to test (built on first use).
pub fn sandflow_path() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        locate().unwrap_or_else(|e| panic!("cannot provide the sandflow binary: {e}"))
    })
}

/// What one `sandflow` run did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Stdout parsed as JSON, or a panic that shows the whole run.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// Runs `sandflow ARGS` in the workspace root.
pub fn sandflow(args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(sandflow_path())
        .args(args)
        .current_dir(workspace_root())
        .output()
        .expect("sandflow starts");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

const BUILD_ATTEMPTS: usize = 5;
/// `sandflow`, with the platform's executable suffix.
const BIN_NAME: &str = if cfg!(windows) {
    "sandflow.exe"
} else {
    "sandflow"
};

fn locate() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SANDFLOW_BIN") {
        return Ok(PathBuf::from(p));
    }
    let root = workspace_root();
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected test executable location {}", exe.display()))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| format!("no target dir above {}", profile_dir.display()))?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => return Err(format!("odd profile dir {}", profile_dir.display())),
    };
    // Dep-info paths escape spaces with a backslash.
    let our_main = root
        .join("host/server/src/main.rs")
        .display()
        .to_string()
        .replace(' ', "\\ ");
    for _ in 0..BUILD_ATTEMPTS {
        build(&root, target_dir, profile)?;
        let lock = File::open(profile_dir.join(".cargo-lock"))
            .and_then(|f| f.lock().map(|()| f))
            .map_err(|e| format!("cargo build lock: {e}"))?;
        let dep_info = fs::read_to_string(profile_dir.join("sandflow.d"))
            .map_err(|e| format!("reading sandflow.d: {e}"))?;
        if dep_info.contains(&our_main) {
            let copy = private_copy(profile_dir, &root)?;
            drop(lock);
            return Ok(copy);
        }
        // Another checkout's build replaced the binary after ours: build again.
    }
    Err(format!(
        "{}/sandflow kept being replaced by other builds ({BUILD_ATTEMPTS} attempts)",
        profile_dir.display()
    ))
}

fn build(root: &Path, target_dir: &Path, profile: &str) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "-p", "sandflow", "--profile", profile])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo build -p sandflow failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Copies the binary to this workspace's own path; the rename makes it atomic, so a copy that
/// another test run is still executing is never written over.
fn private_copy(profile_dir: &Path, root: &Path) -> Result<PathBuf, String> {
    let dir = profile_dir
        .join("sandflow-tests")
        .join(format!("{:016x}", workspace_key(root)));
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let staged = dir.join(format!("sandflow.{}.tmp", std::process::id()));
    let dest = dir.join(BIN_NAME);
    fs::copy(profile_dir.join(BIN_NAME), &staged)
        .and_then(|_| fs::rename(&staged, &dest))
        .map_err(|e| format!("copying the binary to {}: {e}", dest.display()))?;
    Ok(dest)
}

/// Tells checkouts apart within one toolchain (all that shares a target dir).
fn workspace_key(root: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    root.hash(&mut h);
    h.finish()
}
