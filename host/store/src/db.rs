//! The store handle: one writer thread that group-commits queued writes into one transaction,
//! each write isolated in its own savepoint, plus a small pool of read-only connections.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::{Error, Result, migrations};

/// PRAGMAs of every connection. WAL lets readers run beside the writer; FULL makes each commit
/// durable (Standard executions are exactly-once across crashes).
const PRAGMAS: &[(&str, &str)] = &[
    ("journal_mode", "WAL"),
    ("synchronous", "FULL"),
    ("foreign_keys", "ON"),
    ("busy_timeout", "5000"),
];

/// At most this many queued writes share one transaction.
const MAX_BATCH: usize = 512;
/// Writes queued beyond this block their callers (back-pressure).
const QUEUE_DEPTH: usize = 4096;
/// Read connections open at most; more readers wait for one. Opening one per burst of reads
/// would re-prepare every statement on each (their caches start empty).
const MAX_READERS: usize = 16;

/// A write, run inside the batch transaction and answered after the commit.
trait Job: Send {
    /// Runs the write; false when it failed (its savepoint is rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Delivers the result once the batch's commit is known.
    fn finish(self: Box<Self>, commit: std::result::Result<(), String>);
}

struct WriteJob<F, R, D> {
    f: Option<F>,
    result: Option<Result<R>>,
    done: Option<D>,
}

impl<F, R, D> Job for WriteJob<F, R, D>
where
    F: FnOnce(&Connection) -> Result<R> + Send,
    R: Send,
    D: FnOnce(Result<R>) + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let f = self.f.take().expect("a job runs once");
        let r = f(conn);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(mut self: Box<Self>, commit: std::result::Result<(), String>) {
        let result = match (commit, self.result.take()) {
            (Ok(()), Some(r)) => r,
            (Err(e), Some(Err(own))) => Err(Error::Commit(format!("{own}; {e}"))),
            (Err(e), _) => Err(Error::Commit(e)),
            (Ok(()), None) => Err(Error::Closed),
        };
        if let Some(done) = self.done.take() {
            done(result);
        }
    }
}

/// Commit statistics, for metrics and benchmarks.
#[derive(Debug, Default)]
pub struct Stats {
    pub batches: AtomicU64,
    pub writes: AtomicU64,
}

struct Inner {
    path: PathBuf,
    jobs: Mutex<Option<SyncSender<Box<dyn Job>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Readers>,
    /// Signalled when a read connection is returned (or could be opened).
    reader_free: std::sync::Condvar,
    stats: Arc<Stats>,
}

/// Idle read connections, and how many are open (idle or in use).
#[derive(Default)]
struct Readers {
    idle: Vec<Connection>,
    open: usize,
}

/// Cheap to clone; all clones share one writer thread and one reader pool.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

/// Statements are prepared once per connection and reused (`prepare_cached`).
const STATEMENT_CACHE: usize = 64;

fn configure(conn: &Connection) -> Result<()> {
    for (name, value) in PRAGMAS {
        conn.pragma_update(None, name, value)?;
    }
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database at `path`, migrates it and starts the writer.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        migrations::migrate(&mut conn)?;
        let stats = Arc::new(Stats::default());
        let (tx, rx) = mpsc::sync_channel::<Box<dyn Job>>(QUEUE_DEPTH);
        let writer_stats = stats.clone();
        let writer = std::thread::Builder::new()
            .name("sandflow-store-writer".into())
            .spawn(move || writer_loop(conn, rx, &writer_stats))?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                jobs: Mutex::new(Some(tx)),
                writer: Mutex::new(Some(writer)),
                readers: Mutex::new(Readers::default()),
                reader_free: std::sync::Condvar::new(),
                stats,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// Queues a write; `done` gets its result after the batch holding it commits (or fails).
    /// A write that returns an error is rolled back alone; the rest of its batch commits.
    pub fn write_with<R, F, D>(&self, f: F, done: D)
    where
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
        D: FnOnce(Result<R>) + Send + 'static,
    {
        let job: Box<dyn Job> = Box::new(WriteJob {
            f: Some(f),
            result: None,
            done: Some(done),
        });
        let sender = self
            .inner
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match sender {
            Some(s) => {
                if let Err(mpsc::SendError(job)) = s.send(job) {
                    job.finish(Err("the store is closed".into()));
                }
            }
            None => job.finish(Err("the store is closed".into())),
        }
    }

    /// Runs a write and waits for its commit.
    pub fn write<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&Connection) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.write_with(f, move |r| {
            let _ = tx.send(r);
        });
        rx.recv().unwrap_or(Err(Error::Closed))
    }

    /// Runs a query on a read-only connection (sees every committed write). Waits when
    /// [`MAX_READERS`] reads are running.
    pub fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let readers = || self.inner.readers.lock().unwrap_or_else(|p| p.into_inner());
        let pooled = {
            let mut pool = readers();
            loop {
                if let Some(c) = pool.idle.pop() {
                    break Some(c);
                }
                if pool.open < MAX_READERS {
                    pool.open += 1;
                    break None;
                }
                pool = self
                    .inner
                    .reader_free
                    .wait(pool)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        let conn = match pooled.map_or_else(|| self.open_reader(), Ok) {
            Ok(c) => c,
            Err(e) => {
                readers().open -= 1;
                self.inner.reader_free.notify_one();
                return Err(e);
            }
        };
        let r = f(&conn);
        readers().idle.push(conn);
        self.inner.reader_free.notify_one();
        r
    }

    fn open_reader(&self) -> Result<Connection> {
        let c = Connection::open_with_flags(
            &self.inner.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.pragma_update(None, "busy_timeout", "5000")?;
        c.pragma_update(None, "query_only", "ON")?;
        c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(c)
    }

    /// Stops accepting writes, finishes the queued ones and joins the writer thread.
    pub fn close(&self) {
        self.inner
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = h.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.jobs
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = self
            .writer
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = h.join();
        }
    }
}

fn writer_loop(mut conn: Connection, rx: Receiver<Box<dyn Job>>, stats: &Stats) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let commit = run_batch(&mut conn, &mut batch);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats
            .writes
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for job in batch {
            job.finish(commit.clone());
        }
    }
}

fn run_batch(conn: &mut Connection, batch: &mut [Box<dyn Job>]) -> std::result::Result<(), String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    for job in batch.iter_mut() {
        tx.execute_batch("SAVEPOINT job")
            .map_err(|e| e.to_string())?;
        let ok = job.run(&tx);
        let end = if ok {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        tx.execute_batch(end).map_err(|e| e.to_string())?;
    }
    tx.commit().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db/sandflow.db")).unwrap();
        s.write(|c| {
            c.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")?;
            Ok(())
        })
        .unwrap();
        (dir, s)
    }

    #[test]
    fn writes_are_visible_to_readers() {
        let (_d, s) = store();
        s.write(|c| Ok(c.execute("INSERT INTO t VALUES (1, 'a')", [])?))
            .unwrap();
        let v: String = s
            .read(|c| Ok(c.query_row("SELECT v FROM t WHERE k = 1", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, "a");
    }

    #[test]
    fn a_failing_write_rolls_back_alone() {
        let (_d, s) = store();
        let (tx, rx) = mpsc::channel();
        for k in 0..50 {
            let tx = tx.clone();
            s.write_with(
                move |c| {
                    c.execute("INSERT INTO t VALUES (?1, 'x')", [k])?;
                    if k % 10 == 3 {
                        return Err(Error::Conflict(format!("key {k}")));
                    }
                    Ok(k)
                },
                move |r| tx.send(r.is_ok()).unwrap(),
            );
        }
        let oks = (0..50).filter(|_| rx.recv().unwrap()).count();
        assert_eq!(oks, 45);
        let n: i64 = s
            .read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 45, "the five failed writes left nothing behind");
    }

    #[test]
    fn concurrent_writers_share_commits() {
        let (_d, s) = store();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let k = t * 1000 + i;
                        s.write(move |c| Ok(c.execute("INSERT INTO t VALUES (?1, 'y')", [k])?))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n: i64 = s
            .read(|c| Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 800);
        let batches = s.stats().batches.load(Ordering::Relaxed);
        let writes = s.stats().writes.load(Ordering::Relaxed);
        assert_eq!(writes, 801);
        assert!(batches <= writes);
    }

    #[test]
    fn reopening_keeps_data_and_closed_store_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let s = Store::open(&path).unwrap();
        s.write(|c| Ok(c.execute_batch("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')")?))
            .unwrap();
        s.close();
        assert!(matches!(
            s.write(|_| Ok(())),
            Err(Error::Commit(_)) | Err(Error::Closed)
        ));
        drop(s);
        let s = Store::open(&path).unwrap();
        let v: String = s
            .read(|c| Ok(c.query_row("SELECT v FROM t", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, "kept");
    }

    #[test]
    fn readers_cannot_write() {
        let (_d, s) = store();
        assert!(
            s.read(|c| Ok(c.execute("INSERT INTO t VALUES (9, 'z')", [])?))
                .is_err()
        );
    }

    #[test]
    fn a_burst_of_reads_shares_a_bounded_set_of_connections() {
        let (_d, s) = store();
        let threads: Vec<_> = (0..64)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    s.read(|c| {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        Ok(c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0))?)
                    })
                    .unwrap()
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let readers = s.inner.readers.lock().unwrap();
        assert!(readers.open <= MAX_READERS, "{} open", readers.open);
        assert_eq!(
            readers.idle.len(),
            readers.open,
            "every connection came back"
        );
    }
}
