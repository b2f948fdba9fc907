//! `domain-core`: the rules of ScaiSend sender domains — names, DKIM/SPF/DMARC records,
//! verification, DKIM key rotation and signing, the send-time decision — and the use
//! cases that apply them, written against ports.
//!
//! A key design decision made in this crate is that it does no I/O of its own: DNS, the
//! store, key generation threads and the clock are ports ([`ports`]) that adapters
//! implement, so every rule here runs unchanged under the HTTP service, the command-line
//! `check`, another service that embeds this crate, and the unit tests. It never names
//! tokio's runtime, sqlx, axum or hickory (a tidy test enforces it).

#![warn(missing_docs)]

mod macros;

pub mod access;
pub mod alignment;
pub mod crypto;
pub mod egress;
pub mod error;
pub mod events;
pub mod ids;
pub mod lifecycle;
pub mod model;
pub mod name;
pub mod ports;
pub mod publish;
pub mod records;
pub mod rotation;
pub mod schedule;
pub mod sending;
pub mod service;
pub mod signer;
pub mod stored;
pub mod verify;
pub mod webhook;
pub mod zone;

#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use access::{Caller, Role};
pub use error::{Error, FieldError, InputError, RepoError, Result};
pub use model::{
    Actor, Domain, DomainEvent, DomainId, EventId, EventKind, ListFilter, Owner, Page, PageRequest,
    Scope,
};
pub use name::{DmarcPolicy, DomainName, ReturnPathLabel, RuaAddress, Selector};
pub use service::{DomainService, Ports, ServiceConfig, ZoneSource};
pub use signer::{DkimSignature, DkimSigner, SignError, SignatureField, from_domain, sign_all};
