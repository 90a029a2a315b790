//! Compiled artifacts, kept on disk (or in memory) keyed by the wasm's sha256 under a folder
//! named by the engine's compatibility hash, so a wasmtime upgrade or a config change
//! recompiles instead of loading stale code.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use wasmtime::component::Component;
use wasmtime::{Engine, Module};

/// Which kind of wasm an artifact was compiled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Component,
    Module,
}

impl Kind {
    fn suffix(self) -> &'static str {
        match self {
            Kind::Component => "component.cwasm",
            Kind::Module => "module.cwasm",
        }
    }
}

/// A loaded artifact.
pub(crate) enum Loaded {
    Component(Component),
    Module(Module),
}

/// Artifacts kept in memory when there is no folder: sha256 → compiled bytes.
type InMemory = HashMap<String, (Kind, Arc<[u8]>)>;

pub(crate) struct ArtifactStore {
    /// `<root>/<compat-hash>`, or `None` to keep artifacts in `memory`.
    dir: Option<PathBuf>,
    memory: Mutex<InMemory>,
}

impl ArtifactStore {
    pub fn new(root: Option<&Path>, engine: &Engine) -> std::io::Result<Self> {
        let dir = match root {
            Some(root) => {
                let mut h = std::hash::DefaultHasher::new();
                engine.precompile_compatibility_hash().hash(&mut h);
                let dir = root.join(format!("wasmtime-{:016x}", h.finish()));
                std::fs::create_dir_all(&dir)?;
                Some(dir)
            }
            None => None,
        };
        Ok(ArtifactStore {
            dir,
            memory: Mutex::default(),
        })
    }

    fn file(&self, sha: &str, kind: Kind) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{sha}.{}", kind.suffix())))
    }

    /// Whether an artifact for `sha` exists.
    pub fn contains(&self, sha: &str) -> bool {
        match &self.dir {
            Some(_) => [Kind::Component, Kind::Module]
                .into_iter()
                .any(|k| self.file(sha, k).is_some_and(|f| f.exists())),
            None => self.memory().contains_key(sha),
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, InMemory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores compiled code; on disk, written to a temporary name and renamed, so a crash
    /// never leaves a partial artifact under the real name.
    pub fn put(&self, sha: &str, kind: Kind, compiled: Vec<u8>) -> std::io::Result<()> {
        match self.file(sha, kind) {
            Some(path) => {
                let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                std::fs::write(&tmp, &compiled)?;
                std::fs::rename(&tmp, &path)
            }
            None => {
                self.memory()
                    .insert(sha.to_string(), (kind, compiled.into()));
                Ok(())
            }
        }
    }

    /// Loads an artifact (mmap from disk), or `None` if there is none for `sha`.
    pub fn load(&self, engine: &Engine, sha: &str) -> wasmtime::Result<Option<Loaded>> {
        if self.dir.is_none() {
            let Some((kind, bytes)) = self.memory().get(sha).cloned() else {
                return Ok(None);
            };
            // SAFETY: these bytes came from this engine's `precompile_*` in this process.
            #[allow(unsafe_code)]
            let loaded = unsafe {
                match kind {
                    Kind::Component => Loaded::Component(Component::deserialize(engine, &bytes)?),
                    Kind::Module => Loaded::Module(Module::deserialize(engine, &bytes)?),
                }
            };
            return Ok(Some(loaded));
        }
        for kind in [Kind::Component, Kind::Module] {
            let Some(path) = self.file(sha, kind).filter(|p| p.exists()) else {
                continue;
            };
            // SAFETY: only this runtime writes this folder, and its name carries the engine's
            // compatibility hash, so the file is this engine's own `precompile_*` output.
            #[allow(unsafe_code)]
            let loaded = unsafe {
                match kind {
                    Kind::Component => {
                        Loaded::Component(Component::deserialize_file(engine, &path)?)
                    }
                    Kind::Module => Loaded::Module(Module::deserialize_file(engine, &path)?),
                }
            };
            return Ok(Some(loaded));
        }
        Ok(None)
    }
}
