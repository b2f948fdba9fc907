//! The CPU port: where CPU-bound work (signing a message) runs, so that it never occupies
//! the threads that serve requests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

/// A unit of CPU-bound work.
pub type CpuJob = Box<dyn FnOnce() + Send + 'static>;

/// Why a job did not run to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The pool is saturated; the caller may retry shortly.
    #[error("the CPU pool is busy; retry shortly")]
    Busy,
    /// The job did not finish (it panicked, or the pool shut down).
    #[error("the job did not finish")]
    Failed,
}

/// Runs CPU-bound jobs.
///
/// Contract: MUST run each accepted job exactly once and return when it has finished;
/// MUST bound how many jobs wait or run at once and answer [`PoolError::Busy`] promptly,
/// without running the job, beyond that bound.
#[async_trait]
pub trait CpuPool: Send + Sync {
    /// Runs `job` and waits for it.
    async fn run(&self, job: CpuJob) -> Result<(), PoolError>;
}

/// Runs jobs on the calling thread: for tests, the command line, and embedders without
/// an async runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct InlinePool;

#[async_trait]
impl CpuPool for InlinePool {
    async fn run(&self, job: CpuJob) -> Result<(), PoolError> {
        job();
        Ok(())
    }
}

/// Runs `f` on `pool` and gives back its value.
pub async fn offload<T, F>(pool: &dyn CpuPool, f: F) -> Result<T, PoolError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let slot = Arc::new(Mutex::new(None));
    let out = Arc::clone(&slot);
    pool.run(Box::new(move || {
        let value = f();
        *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
    }))
    .await?;
    let value = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    value.ok_or(PoolError::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;

    struct Saturated;

    #[async_trait]
    impl CpuPool for Saturated {
        async fn run(&self, _job: CpuJob) -> Result<(), PoolError> {
            Err(PoolError::Busy)
        }
    }

    #[test]
    fn offloaded_work_gives_its_value_back_or_says_why_not() {
        assert_eq!(block_on(offload(&InlinePool, || 6 * 7)), Ok(42));
        assert_eq!(
            block_on(offload(&Saturated, || 6 * 7)),
            Err(PoolError::Busy)
        );
    }
}
