//! Ports: what the core needs from the outside world, as `Send + Sync` async traits so
//! that `app` can choose adapters at run time behind `Arc<dyn …>`.
//!
//! Each method documents its error contract; adapters MUST honour it, and the contract
//! test suites in the adapter crates check that they do.
//!
//! Ports sit above the model and the key types: they name them, and nothing in the model,
//! the records or the keys imports a port.

mod changes;
mod clock;
mod cpu;
mod dns;
mod keygen;
mod observe;
mod store;
mod webhook;

pub use changes::{ChangeFeed, DomainChange, FeedEvent};
pub use clock::{Clock, SystemClock};
pub use cpu::{CpuJob, CpuPool, InlinePool, PoolError, offload};
pub use dns::{DnsAnswer, DnsLookup, DnsResult, MxRecord, TxtRecordData};
pub use keygen::{InlineKeyGenerator, KeyGenerator};
pub use observe::{NoObserver, Observation, ObservedDns, Observer};
pub use store::{DomainRepo, KeyPool, KeyStore, LeaseOnWrite, OwnerUsage, PooledKey};
pub use webhook::{DomainRenderer, SendResult, WebhookRepo, WebhookRequest, WebhookSender};
