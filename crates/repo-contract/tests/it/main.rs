//! The contract run against the core's in-memory store (`domain_core::testing::MemoryRepo`),
//! the fake the use cases' unit tests run on: it keeps the same promises as the real
//! stores, or those tests would prove nothing about them.

use std::sync::Arc;

use async_trait::async_trait;
use domain_core::ports::{DomainRepo, KeyPool, KeyStore};
use domain_core::testing::MemoryRepo;
use repo_contract::Store;

/// The in-memory store; a fresh one per case.
struct Memory(Arc<MemoryRepo>);

#[async_trait]
impl Store for Memory {
    async fn fresh() -> Self {
        Memory(Arc::new(MemoryRepo::new()))
    }

    fn repo(&self) -> Arc<dyn DomainRepo> {
        self.0.clone()
    }

    fn key_store(&self) -> Arc<dyn KeyStore> {
        self.0.clone()
    }

    fn key_pool(&self) -> Arc<dyn KeyPool> {
        self.0.clone()
    }
}

repo_contract::contract_tests!(ports Memory);
