//! Verification rules: DNS answers in, one verdict per check out (docs/verification.md).
//!
//! A key design decision: temporary DNS failure is its own status everywhere and never
//! folds into "missing", so an outage can never unverify a domain.
//!
//! Each check is one module (`dkim`, `spf`, `dmarc`, `return_path`); [`CheckKind`] lists
//! them, and [`check_domain`] runs those that apply to a domain within one DNS budget.

mod budget;
mod dkim;
mod dmarc;
mod domain;
mod memo;
mod opening;
mod return_path;
mod spf;
mod verdict;

pub use budget::MAX_QUERIES_PER_VERIFICATION;
pub use dkim::{CnameSlot, DkimExpectation, check_cnames, check_dkim, check_dkim_keys};
pub use dmarc::{DmarcExpectation, MAX_CHECKED_REPORT_HOSTS, check_dmarc};
pub use domain::{DkimKeys, DomainExpectation, DomainReport, check_domain};
pub use return_path::{
    BOUNCE_MX_PREFERENCE, MxFinding, ReturnPathExpectation, check_return_path, mx_rule,
};
pub use spf::{SpfExpectation, check_spf};
pub use verdict::{CheckKind, CheckStatus, Gate, Verdict, VerdictCode, Verdicts, Warning};
