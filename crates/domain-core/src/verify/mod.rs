//! Verification rules: DNS answers in, one verdict per check out (docs/verification.md).
//!
//! A key design decision: temporary DNS failure is its own status everywhere and never
//! folds into "missing", so an outage can never unverify a domain.
//!
//! Each check is one module (`dkim`, `spf`, `dmarc`); [`CheckKind`] lists them, and
//! [`check_domain`] runs them all for a domain within one DNS budget.

mod budget;
mod dkim;
mod dmarc;
mod domain;
mod memo;
mod opening;
mod spf;
mod verdict;

pub use budget::MAX_QUERIES_PER_VERIFICATION;
pub use dkim::{CnameSlot, DkimExpectation, check_cnames, check_dkim, check_dkim_keys};
pub use dmarc::{DmarcExpectation, MAX_CHECKED_REPORT_HOSTS, check_dmarc};
pub use domain::{DkimKeys, DomainExpectation, DomainReport, check_domain};
pub use spf::{SpfExpectation, check_spf};
pub use verdict::{CheckKind, CheckStatus, Verdict, VerdictCode, Verdicts, Warning};
