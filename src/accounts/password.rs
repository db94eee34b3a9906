//! argon2id hashing on a dedicated thread pool, never on the actix workers. Jobs queue in
//! a bounded channel: a burst of sign-ups waits for a place instead of growing memory.
//! Imported (Nakama) bcrypt hashes are verified on the same threads; a match also yields
//! the argon2id hash of the password that passed, which replaces the bcrypt one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use tokio::sync::{mpsc, oneshot};

const QUEUE_SIZE: usize = 4096;

enum Job {
    Hash(String, oneshot::Sender<Option<String>>),
    Verify(String, Option<String>, oneshot::Sender<Verdict>),
}

/// What checking a password against a stored hash found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Mismatch,
    Match,
    /// It matched an imported bcrypt hash; here is the argon2id hash to store instead.
    MatchRehashed(String),
}

impl Verdict {
    pub fn matched(&self) -> bool {
        !matches!(self, Verdict::Mismatch)
    }
}

/// Nakama's hashes (`$2a$`, Go's bcrypt) and the other bcrypt spellings.
pub fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|prefix| stored.starts_with(prefix))
}

#[derive(Debug, thiserror::Error)]
#[error("the password hashing pool is gone")]
pub struct PoolClosed;

pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
    /// Imported hashes replaced by argon2id (`password_upgrades`), when metrics are on.
    upgrades: Option<prometheus::IntCounter>,
}

impl PasswordHasher {
    pub fn start(threads: usize) -> Self {
        Self::start_timed(threads, None, None)
    }

    /// Like `start`, recording each hash or verify time in `timer` and counting upgraded
    /// hashes in `upgrades`.
    pub fn start_timed(
        threads: usize,
        timer: Option<prometheus::Histogram>,
        upgrades: Option<prometheus::IntCounter>,
    ) -> Self {
        let (jobs, receiver) = mpsc::channel::<Job>(QUEUE_SIZE);
        let receiver = Arc::new(Mutex::new(receiver));
        let queued = Arc::new(AtomicUsize::new(0));
        // A hash nobody knows the password of: unknown accounts are checked against it so
        // that the response time does not tell whether an account exists.
        let dummy = hash(&uuid::Uuid::new_v4().to_string()).unwrap_or_default();
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let queued = Arc::clone(&queued);
            let dummy = dummy.clone();
            let timer = timer.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{n}")).spawn(move || loop {
                let job = match receiver.lock() {
                    Ok(mut rx) => rx.blocking_recv(),
                    Err(_) => None,
                };
                let Some(job) = job else { break };
                queued.fetch_sub(1, Ordering::Relaxed);
                let started = std::time::Instant::now();
                match job {
                    Job::Hash(password, reply) => {
                        let _ = reply.send(hash(&password));
                    }
                    Job::Verify(password, stored, reply) => {
                        let verdict = match stored {
                            Some(stored) if is_bcrypt(&stored) => verify_bcrypt(&password, &stored),
                            Some(stored) if verify(&password, &stored) => Verdict::Match,
                            Some(_) => Verdict::Mismatch,
                            None => {
                                verify(&password, &dummy);
                                Verdict::Mismatch
                            }
                        };
                        let _ = reply.send(verdict);
                    }
                }
                if let Some(timer) = &timer {
                    timer.observe(started.elapsed().as_secs_f64());
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self { jobs, queued, upgrades }
    }

    /// One imported hash was replaced by argon2id.
    pub fn count_upgrade(&self) {
        if let Some(upgrades) = &self.upgrades {
            upgrades.inc();
        }
    }

    /// An argon2id PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, PoolClosed> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash(password, reply)).await?;
        answer.await.ok().flatten().ok_or(PoolClosed)
    }

    /// Whether `password` matches `stored` (argon2id, or an imported bcrypt hash); `None` is
    /// checked against the dummy hash and always fails, taking as long as a real check.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<Verdict, PoolClosed> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify(password, stored, reply)).await?;
        answer.await.map_err(|_| PoolClosed)
    }

    async fn submit(&self, job: Job) -> Result<(), PoolClosed> {
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.jobs.send(job).await.is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(PoolClosed);
        }
        Ok(())
    }

    /// Jobs waiting for a thread.
    pub fn queue_depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

fn hash(password: &str) -> Option<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).ok().map(|h| h.to_string())
}

/// bcrypt reads the first 72 bytes only (as Nakama's Go bcrypt does); the argon2id hash is
/// of the whole password that passed. A malformed hash is a mismatch, never an error.
fn verify_bcrypt(password: &str, stored: &str) -> Verdict {
    match bcrypt::verify(password, stored) {
        Ok(true) => match hash(password) {
            Some(rehashed) => Verdict::MatchRehashed(rehashed),
            // The login stands; the bcrypt hash stays until a later login upgrades it.
            None => Verdict::Match,
        },
        Ok(false) => Verdict::Mismatch,
        Err(e) => {
            tracing::warn!(error = %e, "a stored bcrypt hash cannot be read");
            Verdict::Mismatch
        }
    }
}

fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let pool = PasswordHasher::start(1);
        let stored = pool.hash("correct horse".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert_eq!(pool.verify("correct horse".into(), Some(stored.clone())).await.unwrap(), Verdict::Match);
        assert_eq!(pool.verify("wrong horse".into(), Some(stored)).await.unwrap(), Verdict::Mismatch);
        assert_eq!(pool.verify("anything".into(), None).await.unwrap(), Verdict::Mismatch);
    }

    #[tokio::test]
    async fn a_matching_bcrypt_hash_yields_argon2id_of_the_whole_password() {
        let pool = PasswordHasher::start(1);
        // Go's bcrypt writes $2a$; the 72-byte limit means a longer password matches on its prefix.
        let long = "x".repeat(80);
        let stored = bcrypt::hash_with_result(&long, 4).unwrap().format_for_version(bcrypt::Version::TwoA);
        assert!(stored.starts_with("$2a$04$"), "{stored}");
        let Verdict::MatchRehashed(rehashed) = pool.verify(long.clone(), Some(stored.clone())).await.unwrap() else {
            panic!("a bcrypt match is rehashed");
        };
        assert!(rehashed.starts_with("$argon2id$v=19$"), "{rehashed}");
        assert_eq!(pool.verify(long.clone(), Some(rehashed.clone())).await.unwrap(), Verdict::Match);
        // Only the whole password passes the new hash, not the 72-byte prefix bcrypt read.
        assert_eq!(pool.verify("x".repeat(72), Some(rehashed)).await.unwrap(), Verdict::Mismatch);
        assert_eq!(pool.verify("y".repeat(80), Some(stored)).await.unwrap(), Verdict::Mismatch);
        assert_eq!(pool.verify("x".repeat(80), Some("$2b$04$not-a-hash".into())).await.unwrap(), Verdict::Mismatch);
    }
}
