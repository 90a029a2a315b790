//! A data directory's tenants and their access keys, shared by `sandflow serve` and the
//! `tenant`/`key` commands (which may run while a server uses the same directory: both go
//! through SQLite, and the server looks keys up per request, so new keys work at once).
//!
//! Secrets are needed in plaintext to verify SigV4, so they are stored encrypted
//! (ChaCha20-Poly1305, the access key id as associated data) with a key kept in
//! `DIR/secret.key`, readable by its owner only. Secrets are never logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sandflow_store::{Store, tenants};
use serde_json::{Value, json};

/// The account, key and secret of `--dev`.
pub const DEV_TENANT: &str = "dev";
pub const DEV_ACCOUNT: &str = "000000000000";
pub const DEV_KEY: &str = "test";
pub const DEV_SECRET: &str = "test";

/// Where things live in a data directory.
pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("sandflow.db")
}

fn key_path(dir: &Path) -> PathBuf {
    dir.join("secret.key")
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] sandflow_store::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("tenant {0} does not exist")]
    NoSuchTenant(String),
    #[error("tenant {0} already exists")]
    TenantExists(String),
    #[error("a stored secret cannot be decrypted with {0}")]
    Unseal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Encrypts and decrypts stored secrets.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    path: PathBuf,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("path", &self.path).finish()
    }
}

const NONCE: usize = 12;

impl Sealer {
    /// Loads the directory's key, creating it on first use. Creation is atomic (written aside,
    /// then hard-linked into place), so a CLI and a server starting together agree on one key.
    pub fn open(dir: &Path) -> Result<Sealer> {
        std::fs::create_dir_all(dir)?;
        let path = key_path(dir);
        if !path.exists() {
            let mut key = [0u8; 32];
            random(&mut key);
            let tmp = dir.join(format!(".secret.key.{}", std::process::id()));
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            opts.open(&tmp)?.write_all(&key)?;
            let linked = std::fs::hard_link(&tmp, &path);
            std::fs::remove_file(&tmp)?;
            match linked {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        let bytes = std::fs::read(&path)?;
        if bytes.len() != 32 {
            return Err(Error::Invalid(format!(
                "{} must hold 32 bytes, not {}",
                path.display(),
                bytes.len()
            )));
        }
        Ok(Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&bytes)),
            path,
        })
    }

    /// `nonce || ciphertext`, bound to the access key id.
    pub fn seal(&self, access_key_id: &str, secret: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        random(&mut nonce);
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: access_key_id.as_bytes(),
        };
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .expect("ChaCha20-Poly1305 encrypts any short message");
        [nonce.as_slice(), &ct].concat()
    }

    pub fn unseal(&self, access_key_id: &str, sealed: &[u8]) -> Result<String> {
        let fail = || Error::Unseal(self.path.display().to_string());
        if sealed.len() < NONCE {
            return Err(fail());
        }
        let (nonce, ct) = sealed.split_at(NONCE);
        let payload = Payload {
            msg: ct,
            aad: access_key_id.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| fail())?;
        String::from_utf8(plain).map_err(|_| fail())
    }
}

/// Fills `buf` from the OS's random source.
pub fn random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the OS random source works");
}

/// `n` characters drawn from `alphabet`.
fn random_text(alphabet: &[u8], n: usize) -> String {
    let mut bytes = vec![0u8; n];
    random(&mut bytes);
    // 256 % len bias is irrelevant at these alphabet sizes for identifiers; secrets use 64
    // symbols, which divides 256 exactly.
    bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}

const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A fresh key pair shaped like AWS's: 20 characters (`SFAK` + 16), and a 40-character secret.
fn new_key_pair() -> (String, String) {
    (
        format!("SFAK{}", random_text(UPPER_DIGITS, 16)),
        random_text(SECRET_CHARS, 40),
    )
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Tenant names: 1-64 of `A-Z a-z 0-9 - _ .`.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid tenant name {name:?}: use 1-64 characters of A-Z a-z 0-9 - _ ."
        )))
    }
}

/// What `tenant create` and `key rotate` print.
fn credentials(tenant: &tenants::Tenant, key: &str, secret: &str) -> Value {
    json!({
        "tenant": tenant.name,
        "accountId": tenant.account_id,
        "accessKeyId": key,
        "secretAccessKey": secret,
    })
}

/// Creates a tenant with a fresh account id and key pair.
pub fn create(store: &Store, sealer: &Sealer, name: &str) -> Result<Value> {
    check_name(name)?;
    let (key, secret) = new_key_pair();
    let sealed = sealer.seal(&key, &secret);
    let (owned, k) = (name.to_string(), key.clone());
    let tenant = store.write(move |c| {
        if tenants::by_name(c, &owned)?.is_some() {
            return Err(sandflow_store::Error::Conflict(owned));
        }
        // A random 12-digit account that is not taken (and never the dev account).
        let account = loop {
            let mut b = [0u8; 8];
            random(&mut b);
            let n = u64::from_le_bytes(b) % 900_000_000_000 + 100_000_000_000;
            let a = n.to_string();
            if tenants::by_account(c, &a)?.is_none() {
                break a;
            }
        };
        let t = tenants::create(c, &owned, &account, now_ms())?;
        tenants::add_key(c, t.id, &k, &sealed, now_ms())?;
        Ok(t)
    });
    let tenant = tenant.map_err(|e| match e {
        sandflow_store::Error::Conflict(n) => Error::TenantExists(n),
        e => e.into(),
    })?;
    Ok(credentials(&tenant, &key, &secret))
}

/// Ensures the `--dev` tenant (account `000000000000`, key `test`/`test`) exists.
pub fn ensure_dev(store: &Store, sealer: &Sealer) -> Result<()> {
    let sealed = sealer.seal(DEV_KEY, DEV_SECRET);
    store.write(move |c| {
        let t = match tenants::by_account(c, DEV_ACCOUNT)? {
            Some(t) => t,
            None => tenants::create(c, DEV_TENANT, DEV_ACCOUNT, now_ms())?,
        };
        match tenants::by_key(c, DEV_KEY)? {
            Some((owner, _)) if owner.id == t.id => {
                // Re-seal: the secret is `test` by definition, whatever was stored.
                tenants::set_secret(c, DEV_KEY, &sealed)?;
            }
            Some((owner, _)) => {
                return Err(sandflow_store::Error::Conflict(format!(
                    "access key {DEV_KEY} (held by tenant {})",
                    owner.name
                )));
            }
            None => tenants::add_key(c, t.id, DEV_KEY, &sealed, now_ms())?,
        }
        Ok(())
    })?;
    Ok(())
}

/// Every tenant: name, account, creation time and access key ids (never secrets).
pub fn list(store: &Store) -> Result<Value> {
    Ok(store.read(|c| {
        let mut out = Vec::new();
        for t in tenants::list(c)? {
            let keys = tenants::key_ids(c, t.id)?;
            out.push(json!({
                "tenant": t.name,
                "accountId": t.account_id,
                "accessKeyIds": keys,
                "createdMs": t.created_ms,
            }));
        }
        Ok(Value::Array(out))
    })?)
}

/// Deletes a tenant and everything it owns.
pub fn delete(store: &Store, name: &str) -> Result<()> {
    let owned = name.to_string();
    if store.write(move |c| tenants::delete(c, &owned))? {
        Ok(())
    } else {
        Err(Error::NoSuchTenant(name.into()))
    }
}

/// Allows and revokes origins (`scheme://host[:port]`) for the tenant's HTTP tasks; prints
/// `{"tenant", "httpOrigins": [...]}`. Works while a server runs: each call reads the list.
pub fn http_allow(store: &Store, name: &str, allow: &[String], revoke: &[String]) -> Result<Value> {
    let normalize = |o: &String| {
        let bare = o.trim_end_matches('/');
        let has_path = bare
            .split_once("://")
            .is_some_and(|(_, rest)| rest.contains(['/', '?', '#']));
        match sandflow_core::http_task::origin(bare) {
            Some(origin) if !has_path => Ok(origin),
            _ => Err(Error::Invalid(format!(
                "{o:?} is not an origin like https://api.example.com or http://10.0.0.5:8080"
            ))),
        }
    };
    let allow: Vec<String> = allow.iter().map(normalize).collect::<Result<_>>()?;
    let revoke: Vec<String> = revoke.iter().map(normalize).collect::<Result<_>>()?;
    let owned = name.to_string();
    let origins = store.write(move |c| {
        let Some(t) = tenants::by_name(c, &owned)? else {
            return Ok(None);
        };
        for o in &allow {
            sandflow_store::http_origins::allow(c, t.id, o)?;
        }
        for o in &revoke {
            sandflow_store::http_origins::revoke(c, t.id, o)?;
        }
        Ok(Some(sandflow_store::http_origins::list(c, t.id)?))
    })?;
    let origins = origins.ok_or_else(|| Error::NoSuchTenant(name.into()))?;
    Ok(json!({"tenant": name, "httpOrigins": origins}))
}

/// The tenant's metered usage per UTC day from `since` (a date) on:
/// `{"tenant", "days": [{"date", "transitions", "taskInvocations", "fuel", "taskWallMs"}], "total"}`.
pub fn usage(store: &Store, name: &str, since: chrono::NaiveDate) -> Result<Value> {
    let since_day = since
        .signed_duration_since(chrono::NaiveDate::default())
        .num_days();
    let owned = name.to_string();
    let found = store.read(move |c| {
        let Some(t) = tenants::by_name(c, &owned)? else {
            return Ok(None);
        };
        Ok(Some(sandflow_store::usage::since(c, t.id, since_day)?))
    })?;
    let days = found.ok_or_else(|| Error::NoSuchTenant(name.into()))?;
    let mut total = sandflow_store::usage::Usage::default();
    let rows: Vec<Value> = days
        .iter()
        .map(|u| {
            total.transitions += u.transitions;
            total.task_invocations += u.task_invocations;
            total.fuel += u.fuel;
            total.task_wall_ms += u.task_wall_ms;
            let date = chrono::NaiveDate::default() + chrono::TimeDelta::days(u.day);
            json!({
                "date": date.to_string(),
                "transitions": u.transitions,
                "taskInvocations": u.task_invocations,
                "fuel": u.fuel,
                "taskWallMs": u.task_wall_ms,
            })
        })
        .collect();
    Ok(json!({
        "tenant": name,
        "days": rows,
        "total": {
            "transitions": total.transitions,
            "taskInvocations": total.task_invocations,
            "fuel": total.fuel,
            "taskWallMs": total.task_wall_ms,
        },
    }))
}

/// Replaces every key of the tenant with a fresh one, in one write.
pub fn rotate(store: &Store, sealer: &Sealer, name: &str) -> Result<Value> {
    let (key, secret) = new_key_pair();
    let sealed = sealer.seal(&key, &secret);
    let (owned, k) = (name.to_string(), key.clone());
    let tenant = store.write(move |c| {
        let Some(t) = tenants::by_name(c, &owned)? else {
            return Ok(None);
        };
        tenants::delete_keys(c, t.id)?;
        tenants::add_key(c, t.id, &k, &sealed, now_ms())?;
        Ok(Some(t))
    })?;
    let tenant = tenant.ok_or_else(|| Error::NoSuchTenant(name.into()))?;
    Ok(credentials(&tenant, &key, &secret))
}

/// Sets the tenant's quota overrides: `reset` clears them first, then each `Some` in `set`
/// replaces that limit. A running server applies them within two seconds.
pub fn quota(
    store: &Store,
    name: &str,
    reset: bool,
    set: &sandflow_store::tenant_quotas::Overrides,
) -> Result<Value> {
    use sandflow_store::tenant_quotas;
    let rates = [
        set.starts_per_second,
        set.start_burst,
        set.fuel_per_second,
        set.fuel_burst,
    ];
    if rates.iter().flatten().any(|r| !r.is_finite() || *r <= 0.0) {
        return Err(Error::Invalid(
            "rates and bursts must be positive numbers".into(),
        ));
    }
    let (owned, set) = (name.to_string(), set.clone());
    let now = store.write(move |c| {
        let Some(t) = tenants::by_name(c, &owned)? else {
            return Ok(None);
        };
        let mut o = if reset {
            tenant_quotas::Overrides::default()
        } else {
            tenant_quotas::get(c, t.id)?
        };
        o.open_executions = set.open_executions.or(o.open_executions);
        o.starts_per_second = set.starts_per_second.or(o.starts_per_second);
        o.start_burst = set.start_burst.or(o.start_burst);
        o.task_concurrency = set.task_concurrency.or(o.task_concurrency);
        o.fuel_per_second = set.fuel_per_second.or(o.fuel_per_second);
        o.fuel_burst = set.fuel_burst.or(o.fuel_burst);
        tenant_quotas::set(c, t.id, &o)?;
        Ok(Some(o))
    })?;
    let now = now.ok_or_else(|| Error::NoSuchTenant(name.into()))?;
    Ok(json!({"tenant": name, "quotas": now}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_is_bound_to_the_key_id() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sealer::open(dir.path()).unwrap();
        let sealed = s.seal("AK", "secret");
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "not plaintext");
        assert_eq!(s.unseal("AK", &sealed).unwrap(), "secret");
        assert!(s.unseal("OTHER", &sealed).is_err());
        // A second open reads the same key.
        let again = Sealer::open(dir.path()).unwrap();
        assert_eq!(again.unseal("AK", &sealed).unwrap(), "secret");
    }

    #[test]
    fn usage_reports_days_and_total() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&db_path(dir.path())).unwrap();
        let sealer = Sealer::open(dir.path()).unwrap();
        create(&store, &sealer, "acme").unwrap();
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let day_n = day
            .signed_duration_since(chrono::NaiveDate::default())
            .num_days();
        store
            .write(move |c| {
                let t = tenants::by_name(c, "acme")?.unwrap();
                for (d, n) in [(day_n - 1, 3), (day_n, 5)] {
                    let u = sandflow_store::usage::Usage {
                        day: d,
                        transitions: n,
                        task_invocations: 1,
                        ..Default::default()
                    };
                    sandflow_store::usage::add(c, t.id, &u)?;
                }
                Ok(())
            })
            .unwrap();
        let all = usage(&store, "acme", chrono::NaiveDate::default()).unwrap();
        assert_eq!(all["total"]["transitions"], 8);
        assert_eq!(all["days"][1]["date"], "2026-12-01");
        let recent = usage(&store, "acme", day).unwrap();
        assert_eq!(recent["days"].as_array().unwrap().len(), 1);
        assert_eq!(recent["total"]["taskInvocations"], 1);
        assert!(matches!(
            usage(&store, "nobody", day),
            Err(Error::NoSuchTenant(_))
        ));
    }

    #[test]
    fn create_list_rotate_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&db_path(dir.path())).unwrap();
        let sealer = Sealer::open(dir.path()).unwrap();
        let c = create(&store, &sealer, "acme").unwrap();
        let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["tenant", "accountId", "accessKeyId", "secretAccessKey"]
        );
        assert_eq!(c["accountId"].as_str().unwrap().len(), 12);
        assert!(matches!(
            create(&store, &sealer, "acme"),
            Err(Error::TenantExists(_))
        ));
        assert!(matches!(
            create(&store, &sealer, "bad name"),
            Err(Error::Invalid(_))
        ));
        let listed = list(&store).unwrap();
        assert_eq!(listed[0]["accessKeyIds"][0], c["accessKeyId"]);
        assert!(
            !listed
                .to_string()
                .contains(c["secretAccessKey"].as_str().unwrap())
        );
        let r = rotate(&store, &sealer, "acme").unwrap();
        assert_ne!(r["accessKeyId"], c["accessKeyId"]);
        let old = c["accessKeyId"].as_str().unwrap().to_string();
        assert!(
            store
                .read(move |c| tenants::by_key(c, &old))
                .unwrap()
                .is_none()
        );
        ensure_dev(&store, &sealer).unwrap();
        ensure_dev(&store, &sealer).unwrap();
        let (t, sealed) = store
            .read(|c| tenants::by_key(c, DEV_KEY))
            .unwrap()
            .unwrap();
        assert_eq!(t.account_id, DEV_ACCOUNT);
        assert_eq!(sealer.unseal(DEV_KEY, &sealed).unwrap(), DEV_SECRET);
        delete(&store, "acme").unwrap();
        assert!(matches!(
            delete(&store, "acme"),
            Err(Error::NoSuchTenant(_))
        ));
    }
}
