//! What every record check starts with: DNS may not answer, there may be no record, several,
//! or one that does not parse. DKIM and DMARC (and any check of one TXT record) share it.

use crate::ports::TxtRecordData;
use crate::records::TxtRecord;

use super::{CheckKind, CheckStatus, Verdict, VerdictCode};

/// The codes and wording of one check's common failures.
#[derive(Debug, Clone, Copy)]
pub(super) struct Opening {
    /// What the record is called in messages: `DKIM`, `DMARC`.
    pub record: &'static str,
    /// No record where one belongs.
    pub missing: VerdictCode,
    /// DNS could not answer.
    pub temporary: VerdictCode,
    /// Several records where one belongs.
    pub multiple: VerdictCode,
    /// The record does not parse.
    pub invalid: VerdictCode,
    /// What to do about several records.
    pub multiple_advice: &'static str,
}

/// The verdicts of one check at one host: everything but the outcome is known before the
/// record is judged.
#[derive(Debug, Clone)]
pub(super) struct VerdictAt {
    pub kind: CheckKind,
    pub host: String,
    pub expected: Option<String>,
    pub found: Vec<String>,
    pub answered_by: Option<String>,
    pub details: serde_json::Value,
}

impl VerdictAt {
    /// A verdict at `host` about `kind`, with nothing found yet.
    pub fn new(kind: CheckKind, host: String) -> Self {
        VerdictAt {
            kind,
            host,
            expected: None,
            found: Vec::new(),
            answered_by: None,
            details: serde_json::Value::Null,
        }
    }

    /// The verdict with this outcome.
    pub fn verdict(&self, status: CheckStatus, code: VerdictCode, message: String) -> Verdict {
        let mut v = Verdict::new(self.kind, self.host.clone(), status, code, message);
        v.expected = self.expected.clone();
        v.found = self.found.clone();
        v.answered_by = self.answered_by.clone();
        v.details = self.details.clone();
        v
    }

    /// DNS could not answer for `name` (`why`).
    pub fn temporary(&self, opening: &Opening, name: &str, why: &str) -> Verdict {
        self.verdict(
            CheckStatus::TemporaryFailure,
            opening.temporary,
            format!("DNS could not answer for {name} ({why}); try again shortly"),
        )
    }

    /// No record at the host; `beyond` adds where else was looked.
    pub fn missing(&self, opening: &Opening, beyond: &str) -> Verdict {
        self.verdict(
            CheckStatus::Missing,
            opening.missing,
            format!(
                "no {} record at {}{beyond}; publish the TXT record shown in `expected`",
                opening.record, self.host
            ),
        )
    }

    /// The one record among `records` (the host's records of this kind), parsed; or the
    /// verdict saying why there is not exactly one that parses.
    pub fn one_record<R: TxtRecord>(
        &self,
        opening: &Opening,
        records: &[TxtRecordData],
    ) -> Result<R, Box<Verdict>> {
        let record = match records {
            [] => return Err(Box::new(self.missing(opening, ""))),
            [record] => record,
            several => {
                return Err(Box::new(self.verdict(
                    CheckStatus::Invalid,
                    opening.multiple,
                    format!(
                        "{} {} records at {}; {}",
                        several.len(),
                        opening.record,
                        self.host,
                        opening.multiple_advice
                    ),
                )));
            }
        };
        R::from_txt(record).map_err(|e| {
            Box::new(self.verdict(
                CheckStatus::Invalid,
                opening.invalid,
                format!(
                    "the {} record at {} is invalid: {e}",
                    opening.record, self.host
                ),
            ))
        })
    }
}
