//! The two queries behind every device login and sign-up, coalesced.
//!
//! Under load most of the database's time per request goes to receiving, planning and
//! committing one small statement (on SQLite: handing it to a connection's thread and
//! back, twice, as sqlx also pings the connection it is given back). A coalescer runs the first call at once; calls that
//! arrive while a batch is in flight queue and go out together as one statement (`= ANY`
//! for lookups, `UNNEST` for inserts). A lone call waits for nothing, so latency at low
//! load is unchanged, and under load one commit covers many sign-ups.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgPool, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::Login;

/// The most calls one statement carries.
const MOST: usize = 128;
/// A statement running this long no longer holds up the calls behind it.
const STUCK: Duration = Duration::from_secs(10);

type Job<Req, Res> = (Req, oneshot::Sender<Res>);

/// Coalesces calls of `run`: it takes a batch of requests and answers each, in order, or
/// `None` when the batch failed and every caller should run its query alone.
pub(crate) struct Coalescer<Req, Res> {
    tx: mpsc::UnboundedSender<Job<Req, Res>>,
    counts: Arc<Counts>,
}

/// Statements run, calls they carried and failed statements, for the metrics and tests.
#[derive(Default)]
pub(crate) struct Counts {
    statements: AtomicU64,
    calls: AtomicU64,
    failed: AtomicU64,
}

impl<Req: Send + 'static, Res: Send + 'static> Coalescer<Req, Res> {
    /// Spawns the coalescer on the current runtime.
    pub(crate) fn start<F, Fut>(run: F) -> Self
    where
        F: Fn(Vec<Req>) -> Fut + Send + 'static,
        Fut: Future<Output = Option<Vec<Res>>> + Send + 'static,
    {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job<Req, Res>>();
        let counts = Arc::new(Counts::default());
        let tally = counts.clone();
        tokio::spawn(async move {
            // One batch in flight at a time: measured against two and four lanes, one gave
            // more sign-ups and logins per second and a lower p99 (bigger batches, fewer
            // statements), and a batch only waits as long as the statement before it.
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                while jobs.len() < MOST {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                tally.statements.fetch_add(1, Ordering::Relaxed);
                tally.calls.fetch_add(jobs.len() as u64, Ordering::Relaxed);
                let (requests, answers): (Vec<Req>, Vec<oneshot::Sender<Res>>) = jobs.into_iter().unzip();
                // A failed or stuck batch drops its answers, which tells each caller to go
                // alone (a timed-out insert that did commit reads as "taken", then a login).
                match tokio::time::timeout(STUCK, run(requests)).await {
                    Ok(Some(results)) => {
                        for (answer, result) in answers.into_iter().zip(results) {
                            let _ = answer.send(result);
                        }
                    }
                    _ => {
                        tally.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Coalescer { tx, counts }
    }

    /// The answer to `request`, or `None` when its batch failed or the coalescer is gone
    /// (its runtime shut down): the caller then runs the query itself.
    pub(crate) async fn call(&self, request: Req) -> Option<Res> {
        let (answer, result) = oneshot::channel();
        self.tx.send((request, answer)).ok()?;
        result.await.ok()
    }

    /// (statements run, calls they carried, statements that failed).
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        let c = &self.counts;
        (c.statements.load(Ordering::Relaxed), c.calls.load(Ordering::Relaxed), c.failed.load(Ordering::Relaxed))
    }
}

/// A new account with its first device, as the batched insert takes it.
pub(crate) struct DeviceSignUp {
    pub id: Uuid,
    pub username: String,
    pub device: String,
    pub now: i64,
}

pub(crate) const PG_FIND_DEVICES: &str = "SELECT d.id, u.id, u.username, u.disable_time, u.password \
    FROM user_device d JOIN users u ON u.id = d.user_id WHERE d.id = ANY($1)";

/// All rows or none: a conflict anywhere (a taken username, two first logins of one device)
/// fails the statement, and its callers retry one by one to learn whose row it was.
pub(crate) const PG_INSERT_DEVICE_ACCOUNTS: &str =
    "WITH v AS (SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], \
    $4::bigint[]) AS v(id, username, device, now)), \
    new_users AS (INSERT INTO users (id, username, create_time, update_time) \
    SELECT id, username, now, now FROM v) \
    INSERT INTO user_device (id, user_id) SELECT device, id FROM v";

/// SQLite takes the batch as one JSON array parameter.
pub(crate) const SQLITE_FIND_DEVICES: &str = "SELECT d.id, u.id, u.username, u.disable_time, u.password \
    FROM user_device d JOIN users u ON u.id = d.user_id WHERE d.id IN (SELECT value FROM json_each(?1))";

/// Through the `new_device_account` view (migration 4), whose trigger inserts both rows;
/// one statement, so a constraint failure anywhere undoes all of it. Ids travel as hex
/// (`unhex`) because SQLite stores UUIDs as 16-byte blobs.
pub(crate) const SQLITE_INSERT_DEVICE_ACCOUNTS: &str =
    "INSERT INTO new_device_account (id, username, lang_tag, metadata, \
    wallet, edge_count, create_time, update_time, verify_time, disable_time, device_id) \
    SELECT unhex(value ->> 'i'), value ->> 'u', 'en', '{}', '{}', 0, value ->> 't', value ->> 't', 0, 0, \
    value ->> 'd' FROM json_each(?1)";

type LoginRow = (String, Uuid, String, i64, Option<String>);

/// A batch that got no connection within the acquire timeout: its calls fail with it
/// rather than each wait out the timeout again alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unreachable;

impl From<Unreachable> for sea_orm::DbErr {
    fn from(_: Unreachable) -> Self {
        sea_orm::DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout)
    }
}

/// Every call's answer when the database could not be reached, `None` (each call goes
/// alone) for any other failure.
fn failed<T>(n: usize, e: &sqlx::Error, what: &str) -> Option<Vec<Result<T, Unreachable>>> {
    if matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) {
        tracing::debug!(error = %e, calls = n, "batched {what} got no connection; its calls fail");
        return Some((0..n).map(|_| Err(Unreachable)).collect());
    }
    tracing::debug!(error = %e, calls = n, "batched {what} failed; its calls go alone");
    None
}

/// The lookup's answers in the order of the devices asked for.
fn answers(devices: &[String], rows: Vec<LoginRow>) -> Vec<Option<Login>> {
    let found: HashMap<String, Login> = rows
        .into_iter()
        .map(|(device, id, username, disable_time, password)| (device, Login { id, username, disable_time, password }))
        .collect();
    devices.iter().map(|d| found.get(d).cloned()).collect()
}

type Found = Result<Option<Login>, Unreachable>;

fn looked_up(devices: &[String], rows: Result<Vec<LoginRow>, sqlx::Error>) -> Option<Vec<Found>> {
    match rows {
        Ok(rows) => Some(answers(devices, rows).into_iter().map(Ok).collect()),
        Err(e) => failed(devices.len(), &e, "device lookup"),
    }
}

fn inserted<T>(n: usize, result: Result<T, sqlx::Error>) -> Option<Vec<Result<(), Unreachable>>> {
    match result {
        Ok(_) => Some(vec![Ok(()); n]),
        Err(e) => failed(n, &e, "sign-up"),
    }
}

/// The coalesced queries of one store.
pub(crate) struct Batches {
    pub find_device: Coalescer<String, Found>,
    pub insert_device: Coalescer<DeviceSignUp, Result<(), Unreachable>>,
}

impl Batches {
    pub(crate) fn postgres(pool: PgPool) -> Batches {
        let readers = pool.clone();
        let find_device = Coalescer::start(move |devices: Vec<String>| {
            let pool = readers.clone();
            async move {
                // Not prepared: a cached generic plan made while the table was small
                // scans it whole once it is not (seen with autovacuum off).
                let rows = sqlx::query_as(PG_FIND_DEVICES).bind(&devices).persistent(false).fetch_all(&pool).await;
                looked_up(&devices, rows)
            }
        });
        let insert_device = Coalescer::start(move |accounts: Vec<DeviceSignUp>| {
            let pool = pool.clone();
            async move {
                let n = accounts.len();
                let mut ids = Vec::with_capacity(n);
                let mut usernames = Vec::with_capacity(n);
                let mut devices = Vec::with_capacity(n);
                let mut times = Vec::with_capacity(n);
                for a in accounts {
                    ids.push(a.id);
                    usernames.push(a.username);
                    devices.push(a.device);
                    times.push(a.now);
                }
                let result = sqlx::query(PG_INSERT_DEVICE_ACCOUNTS)
                    .bind(&ids)
                    .bind(&usernames)
                    .bind(&devices)
                    .bind(&times)
                    .execute(&pool)
                    .await;
                inserted(n, result)
            }
        });
        Batches { find_device, insert_device }
    }

    /// `readers` serve the lookups; sign-ups go to the single `writer` connection.
    pub(crate) fn sqlite(readers: SqlitePool, writer: SqlitePool) -> Batches {
        let find_device = Coalescer::start(move |devices: Vec<String>| {
            let pool = readers.clone();
            async move {
                let list = serde_json::to_string(&devices).unwrap_or_default();
                let rows = sqlx::query_as(SQLITE_FIND_DEVICES).bind(list).fetch_all(&pool).await;
                looked_up(&devices, rows)
            }
        });
        let insert_device = Coalescer::start(move |accounts: Vec<DeviceSignUp>| {
            let pool = writer.clone();
            async move {
                let n = accounts.len();
                let rows: Vec<serde_json::Value> = accounts
                    .into_iter()
                    .map(|a| serde_json::json!({"i": a.id.simple().to_string(), "u": a.username, "d": a.device, "t": a.now}))
                    .collect();
                let list = serde_json::Value::Array(rows).to_string();
                inserted(n, sqlx::query(SQLITE_INSERT_DEVICE_ACCOUNTS).bind(list).execute(&pool).await)
            }
        });
        Batches { find_device, insert_device }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::sync::Semaphore;

    use super::Coalescer;

    /// A coalescer whose batches wait for a permit of `gate`, recording their sizes.
    fn gated(gate: Arc<Semaphore>, sizes: Arc<Mutex<Vec<usize>>>) -> Coalescer<u32, u32> {
        Coalescer::start(move |xs: Vec<u32>| {
            let (gate, sizes) = (gate.clone(), sizes.clone());
            async move {
                if let Ok(mut s) = sizes.lock() {
                    s.push(xs.len());
                }
                gate.acquire().await.ok()?.forget();
                Some(xs.into_iter().map(|x| x * 10).collect())
            }
        })
    }

    #[tokio::test]
    async fn calls_queued_behind_a_running_batch_go_out_together_and_get_their_own_answers() {
        let gate = Arc::new(Semaphore::new(0));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let c = Arc::new(gated(gate.clone(), sizes.clone()));
        let first = tokio::spawn({
            let c = c.clone();
            async move { c.call(1).await }
        });
        while sizes.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let rest: Vec<_> = (2..=4)
            .map(|x| {
                let c = c.clone();
                tokio::spawn(async move { c.call(x).await })
            })
            .collect();
        for _ in 0..10 {
            tokio::task::yield_now().await; // the three are queued now
        }
        gate.add_permits(2);
        assert_eq!(first.await.unwrap(), Some(10));
        let mut answers = Vec::new();
        for r in rest {
            answers.push(r.await.unwrap());
        }
        assert_eq!(answers, [Some(20), Some(30), Some(40)]);
        assert_eq!(*sizes.lock().unwrap(), [1, 3]);
        assert_eq!(c.counts(), (2, 4, 0));
    }

    #[tokio::test]
    async fn a_failed_batch_tells_each_caller_to_go_alone() {
        let c: Coalescer<u32, u32> = Coalescer::start(|_xs: Vec<u32>| async { None });
        assert_eq!(c.call(7).await, None);
        assert_eq!(c.counts(), (1, 1, 1));
    }

    #[test]
    fn a_batch_without_a_connection_fails_its_calls_and_other_failures_send_them_alone() {
        let failed = |e: sqlx::Error| super::failed::<()>(3, &e, "test");
        assert_eq!(failed(sqlx::Error::PoolTimedOut), Some(vec![Err(super::Unreachable); 3]));
        assert_eq!(failed(sqlx::Error::PoolClosed), Some(vec![Err(super::Unreachable); 3]));
        assert_eq!(failed(sqlx::Error::RowNotFound), None);
        assert_eq!(failed(sqlx::Error::Io(std::io::ErrorKind::BrokenPipe.into())), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_batch_gives_up_and_the_next_calls_still_run() {
        let gate = Arc::new(Semaphore::new(0));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let c = gated(gate.clone(), sizes.clone());
        // Nothing opens the gate: after STUCK (paused time runs ahead) the caller goes alone.
        assert_eq!(c.call(1).await, None);
        gate.add_permits(1);
        assert_eq!(c.call(2).await, Some(20));
        assert_eq!(c.counts(), (2, 2, 1));
    }
}
