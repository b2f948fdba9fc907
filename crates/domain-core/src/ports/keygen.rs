//! The key-generation port, and the generator that runs on the calling thread.

use async_trait::async_trait;

use crate::crypto::{GeneratedKey, KeyAlgorithm, KeyError, generate};

/// Key generation, behind a port because it is slow (tens of milliseconds for 2048 bits,
/// seconds for 4096): `app` runs it on a blocking thread pool, the core's tests run it
/// inline.
#[async_trait]
pub trait KeyGenerator: Send + Sync {
    /// Generates a new key pair of the given kind.
    async fn generate(&self, algorithm: KeyAlgorithm) -> Result<GeneratedKey, KeyError>;
}

/// Generates keys on the calling thread (tests, command-line tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct InlineKeyGenerator;

#[async_trait]
impl KeyGenerator for InlineKeyGenerator {
    async fn generate(&self, algorithm: KeyAlgorithm) -> Result<GeneratedKey, KeyError> {
        generate(algorithm)
    }
}
