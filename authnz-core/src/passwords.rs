//! Argon2 password hashing on a bounded blocking pool.
//!
//! Hashing and verifying are CPU-heavy (tens to hundreds of milliseconds), so
//! they never run on the async executor: each call takes one of `workers`
//! permits and runs on one of `workers` dedicated hashing threads. At most
//! `workers` hashes run at once; further callers wait asynchronously for a
//! permit, holding no thread.
//!
//! The hashing threads run at a lower scheduling priority (nice +10 on
//! Linux). When logins saturate the pool on a small machine, the async
//! workers would otherwise get only a `1 / (workers + 1)` share of a core and
//! every cheap request (session checks) would queue behind Argon2; with the
//! hashing threads niced, the cheap requests go first and hashing uses
//! whatever CPU is left, which on an idle server is all of it (measured with
//! `cargo xtask bench`, the `mixed` scenario).
//!
//! Parameters default to argon2-cffi's `PasswordHasher()` (PROTOCOL.md 5.2): Argon2id
//! v19, m=65536 KiB, t=3, p=4, 32-byte hash, 16-byte salt. Verification accepts
//! any Argon2 variant and parameters within the bounds below, so hashes written
//! by older upstream deployments keep working; `needs_rehash` tells login when
//! to upgrade a stored hash.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version,
};
use tokio::sync::Semaphore;

/// Upper bounds on parameters read from stored hashes, so a crafted or corrupt
/// row cannot make one verification allocate gigabytes or run for minutes.
/// The `argon2*` config items have the same bounds, so every hash this
/// server makes is one it verifies.
pub const MAX_M_COST_KIB: u32 = 1024 * 1024;
/// Largest number of passes accepted (see [`MAX_M_COST_KIB`]).
pub const MAX_T_COST: u32 = 16;
/// Largest number of lanes accepted (see [`MAX_M_COST_KIB`]).
pub const MAX_P_COST: u32 = 64;
const MAX_OUTPUT_LEN: usize = 128;

/// Salt length used for new hashes (argon2-cffi default).
const SALT_LEN: usize = 16;

/// How much nicer than the rest of the server the hashing threads run.
const HASH_THREAD_NICE: i32 = 10;

/// Argon2 parameters for new hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    pub output_len: usize,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            m_cost_kib: 65536,
            t_cost: 3,
            p_cost: 4,
            output_len: 32,
        }
    }
}

/// Errors from the hashing pool.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 failure: {0}")]
    Argon2(String),
    #[error("hashing pool closed")]
    PoolClosed,
    #[error("cannot start a hashing thread: {0}")]
    Thread(String),
}

/// The bounded hashing pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

/// One hashing thread as `/health` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    /// The thread's name, `authnz-argon2-N`.
    pub name: String,
    /// False once the thread has exited (it only does when the pool is
    /// dropped or its queue is poisoned).
    pub running: bool,
}

/// A unit of work for a hashing thread.
type Job = Box<dyn FnOnce() + Send + 'static>;

struct Inner {
    permits: Semaphore,
    /// Queue of the hashing threads; they exit when it is dropped.
    jobs: Sender<Job>,
    params: HashParams,
    argon2_params: Params,
    /// A hash of a random secret with the current parameters, verified in
    /// place of a missing user so every login path costs the same (PROTOCOL.md 5.3).
    dummy_hash: String,
    /// Verifications run (real and dummy), for tests and metrics.
    verifications: AtomicU64,
    /// New hashes made.
    hashes: AtomicU64,
    /// One flag per hashing thread, cleared when it exits.
    running: Arc<[AtomicBool]>,
    /// Callers waiting for a free hashing thread.
    waiting: AtomicUsize,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("permits", &self.permits)
            .field("params", &self.params)
            .field("verifications", &self.verifications)
            .field("hashes", &self.hashes)
            .finish_non_exhaustive()
    }
}

/// One caller in the queue of the pool; leaves it when dropped (also when
/// the waiting request is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Work counters of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashStats {
    /// Argon2 verifications run, real and dummy.
    pub verifications: u64,
    /// New hashes made.
    pub hashes: u64,
}

impl PasswordHasher {
    /// A pool running at most `workers` hashes at once with `params`.
    pub fn new(workers: usize, params: HashParams) -> Result<Self, HashError> {
        let argon2_params = Params::new(
            params.m_cost_kib,
            params.t_cost,
            params.p_cost,
            Some(params.output_len),
        )
        .map_err(|e| HashError::Argon2(e.to_string()))?;
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| HashError::Argon2(e.to_string()))?;
        let dummy_hash = hash_blocking(&argon2_params, &secret)?;
        let workers = workers.max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let running: Arc<[AtomicBool]> = (0..workers).map(|_| AtomicBool::new(true)).collect();
        for i in 0..workers {
            let queue = Arc::clone(&queue);
            let running = Arc::clone(&running);
            std::thread::Builder::new()
                .name(worker_name(i))
                .spawn(move || {
                    let _exit = ClearOnExit(&running[i]);
                    hashing_thread(&queue);
                })
                .map_err(|e| HashError::Thread(e.to_string()))?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(workers),
                jobs,
                params,
                argon2_params,
                dummy_hash,
                verifications: AtomicU64::new(0),
                hashes: AtomicU64::new(0),
                running,
                waiting: AtomicUsize::new(0),
            }),
        })
    }

    /// How much Argon2 work the pool has done.
    pub fn stats(&self) -> HashStats {
        HashStats {
            verifications: self.inner.verifications.load(Ordering::Relaxed),
            hashes: self.inner.hashes.load(Ordering::Relaxed),
        }
    }

    /// The hashing threads (`workers` of them) and whether each is running.
    pub fn workers(&self) -> Vec<WorkerStatus> {
        self.inner
            .running
            .iter()
            .enumerate()
            .map(|(i, flag)| WorkerStatus {
                name: worker_name(i),
                running: flag.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Callers waiting for a free hashing thread right now.
    pub fn queue_depth(&self) -> usize {
        self.inner.waiting.load(Ordering::Relaxed)
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> HashParams {
        self.inner.params
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Inner) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let queued = Waiting::enter(&self.inner.waiting);
        let started = std::time::Instant::now();
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::PoolClosed)?;
        drop(queued);
        metrics::histogram!("authnz_argon2_wait_seconds").record(started.elapsed());
        let inner = Arc::clone(&self.inner);
        let (done, result) = tokio::sync::oneshot::channel();
        self.inner
            .jobs
            .send(Box::new(move || {
                let _ = done.send(job(&inner));
            }))
            .map_err(|_| HashError::PoolClosed)?;
        result.await.map_err(|_| HashError::PoolClosed)
    }

    /// Hash a password (already cut to 256 code points by the caller, see
    /// [`crate::validate::text::cut_password`]) into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.to_owned();
        self.run(move |inner| {
            inner.hashes.fetch_add(1, Ordering::Relaxed);
            hash_blocking(&inner.argon2_params, password.as_bytes())
        })
        .await?
    }

    /// True if `password` matches the PHC string `stored`. A malformed hash or
    /// one with out-of-bounds parameters never matches (and still costs one
    /// dummy verification, so timing stays uniform).
    pub async fn verify(&self, password: &str, stored: &str) -> Result<bool, HashError> {
        let password = password.to_owned();
        let stored = stored.to_owned();
        self.run(move |inner| {
            inner.verifications.fetch_add(1, Ordering::Relaxed);
            if within_bounds(&stored) {
                verify_blocking(password.as_bytes(), &stored)
            } else {
                let _ = verify_blocking(b"nope", &inner.dummy_hash);
                false
            }
        })
        .await
    }

    /// Verify against the in-memory dummy hash: the cost of one real
    /// verification, for paths where there is no user to verify.
    pub async fn verify_dummy(&self) -> Result<(), HashError> {
        self.run(|inner| {
            inner.verifications.fetch_add(1, Ordering::Relaxed);
            let _ = verify_blocking(b"nope", &inner.dummy_hash);
        })
        .await
    }

    /// True when `stored` was made with other parameters than the current ones
    /// (variant, version, memory, iterations, lanes, salt or hash length).
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let Ok(hash) = PasswordHash::new(stored) else {
            return true;
        };
        let p = &self.inner.params;
        let same_alg = hash.algorithm.as_str() == "argon2id";
        let same_version = hash.version == Some(Version::V0x13.into());
        let same_params = Params::try_from(&hash).is_ok_and(|hp| {
            hp.m_cost() == p.m_cost_kib && hp.t_cost() == p.t_cost && hp.p_cost() == p.p_cost
        });
        let same_salt = hash
            .salt
            .as_ref()
            .is_some_and(|s| s.as_ref().len() == SALT_LEN);
        let same_out = hash.hash.as_ref().is_some_and(|h| h.len() == p.output_len);
        !(same_alg && same_version && same_params && same_salt && same_out)
    }
}

fn worker_name(i: usize) -> String {
    format!("authnz-argon2-{i}")
}

/// Clears a thread's running flag when the thread ends, however it ends.
struct ClearOnExit<'a>(&'a AtomicBool);

impl Drop for ClearOnExit<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// One hashing thread: lower its priority, then run jobs until the pool is
/// dropped. A panicking job loses its result (the caller sees `PoolClosed`)
/// but not the thread.
fn hashing_thread(queue: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = match queue.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Make the calling thread nicer by [`HASH_THREAD_NICE`] (Linux: nice values
/// are per thread). Failure only costs latency of other requests under load.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let tid = rustix::thread::gettid();
        let now = getpriority_process(Some(tid)).unwrap_or(0);
        if let Err(e) = setpriority_process(Some(tid), (now + HASH_THREAD_NICE).min(19)) {
            tracing::debug!(error = %e, "cannot lower the priority of a hashing thread");
        }
    }
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| HashError::Argon2(e.to_string()))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon2
        .hash_password_with_salt(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

fn verify_blocking(password: &[u8], stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => Argon2::default().verify_password(password, &hash).is_ok(),
        Err(_) => false,
    }
}

fn within_bounds(stored: &str) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let out_ok = hash
        .hash
        .as_ref()
        .is_some_and(|h| h.len() <= MAX_OUTPUT_LEN);
    params.m_cost() <= MAX_M_COST_KIB
        && params.t_cost() <= MAX_T_COST
        && params.p_cost() <= MAX_P_COST
        && out_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> HashParams {
        HashParams {
            m_cost_kib: 256,
            t_cost: 1,
            p_cost: 1,
            output_len: 32,
        }
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = PasswordHasher::new(2, fast()).expect("pool");
        let phc = h.hash("correct horse").await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert!(h.verify("correct horse", &phc).await.expect("verify"));
        assert!(!h.verify("wrong horse", &phc).await.expect("verify"));
        assert!(!h.needs_rehash(&phc));
    }

    #[tokio::test]
    async fn reports_each_hashing_thread() {
        let h = PasswordHasher::new(3, fast()).expect("pool");
        let names: Vec<_> = h
            .workers()
            .into_iter()
            .map(|w| (w.name, w.running))
            .collect();
        assert_eq!(
            names,
            [
                ("authnz-argon2-0".to_owned(), true),
                ("authnz-argon2-1".to_owned(), true),
                ("authnz-argon2-2".to_owned(), true),
            ]
        );
        // A thread that has ended is reported as such.
        let flag = AtomicBool::new(true);
        drop(ClearOnExit(&flag));
        assert!(!flag.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn default_params_match_argon2_cffi() {
        let h = PasswordHasher::new(1, HashParams::default()).expect("pool");
        let phc = h.hash("x").await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"), "{phc}");
    }

    #[tokio::test]
    async fn verifies_argon2_cffi_hashes_of_every_generation() {
        // Made here with Python argon2-cffi 25: PasswordHasher(...).hash("hunter2-password").
        let h = PasswordHasher::new(1, HashParams::default()).expect("pool");
        let hashes = [
            "$argon2id$v=19$m=65536,t=3,p=4$Mc5c0ZL3HH1SMGG46bqqTQ$cfWgOWQp5jaH6LzmOYAMi0BQspeIVCZa7vH31foFJ7Y",
            "$argon2id$v=19$m=102400,t=2,p=8$rn8Q6d3SkaMrcWCrBpAjDQ$OAb3sm/f27fl7FJIZs8DmA",
            "$argon2i$v=19$m=1024,t=2,p=2$5YSnQAIjz57CmLHWkP3Asw$hHMCNEHw4nT0HjKC2ZNg/Ulyc3NNea42FsCrOE7B3Lw",
            "$argon2d$v=19$m=1024,t=2,p=2$G5XXcPY5af1HGxT4MQrAoQ$yeFnCHZpAwNGIWI+Ve7b9+iqeKJTRja+f+iGhQGypB8",
        ];
        for (i, stored) in hashes.iter().enumerate() {
            assert!(
                h.verify("hunter2-password", stored).await.expect("verify"),
                "{stored}"
            );
            assert!(
                !h.verify("hunter2-passwordX", stored).await.expect("verify"),
                "{stored}"
            );
            // Only the first one has the current default parameters.
            assert_eq!(h.needs_rehash(stored), i != 0, "{stored}");
        }
    }

    #[tokio::test]
    async fn rejects_out_of_bounds_and_garbage_hashes() {
        let h = PasswordHasher::new(1, fast()).expect("pool");
        let huge = "$argon2id$v=19$m=4194304,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$sU4ViUWz1t6QPmLyNZ0EVKuvdRp9EdFvI/tUDEQnHuA";
        assert!(!h.verify("x", huge).await.expect("verify"));
        assert!(!h.verify("x", "not a hash").await.expect("verify"));
        assert!(h.needs_rehash("not a hash"));
        h.verify_dummy().await.expect("dummy");
    }
}
