//! The threads password checks run on: a fixed few, one per hashing slot.
//!
//! argon2id takes 19 MiB and tens of milliseconds of a core per check. The
//! slots already bound how many run at once; running them on threads of
//! their own keeps them off tokio's blocking pool (shared with other
//! blocking work, and up to 512 threads) and keeps their buffers on as many
//! allocator arenas as there are slots. (It did not lower a flood's
//! peak memory: see BENCHMARKS.md, "Sign-in flood".)

use std::panic::AssertUnwindSafe;
use std::sync::{mpsc, Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// Hands work to the pool's threads; they end when the last handle is dropped.
#[derive(Clone)]
pub struct HashingPool {
    jobs: mpsc::Sender<Job>,
}

impl HashingPool {
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for number in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            let started = std::thread::Builder::new()
                .name(format!("password-check-{number}"))
                .spawn(move || work_through(&queue));
            if let Err(error) = started {
                tracing::error!(%error, "starting a password-check thread failed");
            }
        }
        HashingPool { jobs }
    }

    /// Runs `work` on one of the pool's threads; `None` if it panicked (the
    /// thread goes on) or no thread is left.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = answer.send(work());
        });
        self.jobs.send(job).ok()?;
        answered.await.ok()
    }
}

fn work_through(queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // One thread waits on the queue at a time; the others on the lock.
        let next = queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .recv();
        let Ok(job) = next else {
            return;
        };
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a password check panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HashingPool;

    #[tokio::test]
    async fn work_runs_on_the_pools_named_threads() {
        let pool = HashingPool::new(2);
        let name = pool
            .run(|| std::thread::current().name().map(str::to_string))
            .await;
        assert!(matches!(name, Some(Some(name)) if name.starts_with("password-check-")));
    }

    #[tokio::test]
    async fn a_panicking_job_answers_none_and_the_thread_goes_on() {
        let pool = HashingPool::new(1);
        assert_eq!(pool.run(|| -> u8 { panic!("a bug") }).await, None);
        assert_eq!(pool.run(|| 7).await, Some(7));
    }
}
