//! argon2id hashing on a dedicated thread pool, never on the actix workers. Jobs queue in
//! a bounded channel: a burst of sign-ups waits for a place instead of growing memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use tokio::sync::{mpsc, oneshot};

const QUEUE_SIZE: usize = 4096;

enum Job {
    Hash(String, oneshot::Sender<Option<String>>),
    Verify(String, Option<String>, oneshot::Sender<bool>),
}

#[derive(Debug, thiserror::Error)]
#[error("the password hashing pool is gone")]
pub struct PoolClosed;

pub struct PasswordHasher {
    jobs: mpsc::Sender<Job>,
    queued: Arc<AtomicUsize>,
}

impl PasswordHasher {
    pub fn start(threads: usize) -> Self {
        Self::start_timed(threads, None)
    }

    /// Like `start`, recording each hash or verify time in `timer`.
    pub fn start_timed(threads: usize, timer: Option<prometheus::Histogram>) -> Self {
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
                        let ok = match stored {
                            Some(stored) => verify(&password, &stored),
                            None => {
                                verify(&password, &dummy);
                                false
                            }
                        };
                        let _ = reply.send(ok);
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
        Self { jobs, queued }
    }

    /// An argon2id PHC string for `password`.
    pub async fn hash(&self, password: String) -> Result<String, PoolClosed> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash(password, reply)).await?;
        answer.await.ok().flatten().ok_or(PoolClosed)
    }

    /// Whether `password` matches `stored`; `None` is checked against the dummy hash and
    /// always fails, taking as long as a real check.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, PoolClosed> {
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
        assert!(pool.verify("correct horse".into(), Some(stored.clone())).await.unwrap());
        assert!(!pool.verify("wrong horse".into(), Some(stored)).await.unwrap());
        assert!(!pool.verify("anything".into(), None).await.unwrap());
    }
}
