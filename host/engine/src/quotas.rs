//! Per-tenant quota overrides (`sandflow tenant quota`), kept in memory and re-read every two
//! seconds so a change made while the server runs takes effect without a restart.

use std::collections::HashMap;
use std::sync::{RwLock, Weak};
use std::time::Duration;

use sandflow_store::Store;
use sandflow_store::tenant_quotas::{self, Overrides};

use crate::{Engine, Inner};

#[derive(Debug, Default)]
pub struct QuotaOverrides(RwLock<HashMap<i64, Overrides>>);

/// How soon a changed override is seen.
const RELOAD: Duration = Duration::from_secs(2);

impl QuotaOverrides {
    /// The tenant's overrides (all `None` when it has none).
    pub fn get(&self, tenant_id: i64) -> Overrides {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(&tenant_id).cloned().unwrap_or_default()
    }

    pub fn reload(&self, store: &Store) -> sandflow_store::Result<()> {
        let all: HashMap<i64, Overrides> = store.read(tenant_quotas::all)?.into_iter().collect();
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = all;
        Ok(())
    }
}

pub(crate) async fn reloader(engine: Weak<Inner>) {
    let mut tick = tokio::time::interval(RELOAD);
    loop {
        tick.tick().await;
        let Some(inner) = engine.upgrade() else {
            return;
        };
        let e = Engine { inner };
        let (overrides, store) = (e.inner.overrides.clone(), e.inner.store.clone());
        let reloaded = tokio::task::spawn_blocking(move || overrides.reload(&store)).await;
        if let Ok(Err(err)) = reloaded {
            tracing::error!(error = %err, "reading quota overrides failed");
        }
    }
}
