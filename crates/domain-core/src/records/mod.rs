//! DKIM, SPF and DMARC records: one typed model per protocol, used both to build the
//! records we publish and to parse what we find in DNS.
//!
//! Every record type implements [`TxtRecord`]: `parse` reads the text of one TXT record
//! (its character-strings already joined) and `Display` writes it back. Property tests
//! hold `parse(build(x)) == x` for each.
//!
//! What DNS holds is bytes, not text: [`text`] shows them losslessly (what a verdict's
//! `found` lists) and refuses, with a reason, those that cannot be a record's text.

use crate::error::InputError;
use crate::ports::TxtRecordData;

pub mod dkim;
pub mod dmarc;
pub mod spf;
mod tag_list;
pub mod text;

pub use tag_list::{Tag, TagList};

/// One TXT record type of this crate.
pub trait TxtRecord: Sized + std::fmt::Display {
    /// Parses the text of one record (character-strings joined without separators, as
    /// RFC 6376 §3.6.2.2 and RFC 7208 §3.3 prescribe).
    fn parse(text: &str) -> Result<Self, RecordError>;

    /// Parses one TXT record as found in DNS. A record holding bytes that no record may
    /// contain (NUL and other control characters, bytes that are not UTF-8) is an error
    /// naming them; see [`text::record_text`].
    fn from_txt(record: &TxtRecordData) -> Result<Self, RecordError> {
        Self::parse(&record.text()?)
    }
}

/// Why a TXT record could not be parsed. The message names the offending tag or term.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RecordError {
    message: String,
}

impl RecordError {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<InputError> for RecordError {
    fn from(e: InputError) -> Self {
        RecordError::new(e.message())
    }
}

/// Longest character-string in a TXT record (RFC 1035 §3.3).
pub const MAX_CHARACTER_STRING: usize = 255;

/// Splits a TXT value into character-strings of at most 255 octets, as DNS needs for
/// long values such as 2048-bit DKIM keys. Splits only between characters, so every
/// chunk is valid UTF-8; joining the chunks gives back the value.
pub fn value_chunks(value: &str) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut rest = value;
    while rest.len() > MAX_CHARACTER_STRING {
        let mut cut = MAX_CHARACTER_STRING;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        chunks.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    if !rest.is_empty() || chunks.is_empty() {
        chunks.push(rest.to_owned());
    }
    chunks
}

/// Joins the character-strings of one TXT record into its value (RFC 6376 §3.6.2.2:
/// "strings in a TXT RR MUST be concatenated together before use", without spaces), as
/// it is shown: control characters, bytes that are not UTF-8 and backslashes escaped
/// (see [`text::escape`]), so that any value can be shown and stored, and two different
/// values never look alike.
pub fn join_character_strings<S: AsRef<[u8]>>(strings: &[S]) -> String {
    text::escape(&join_bytes(strings))
}

/// The bytes of one TXT record: its character-strings joined without separators.
pub(crate) fn join_bytes<S: AsRef<[u8]>>(strings: &[S]) -> Vec<u8> {
    strings
        .iter()
        .flat_map(|s| s.as_ref().iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_values_are_one_chunk() {
        assert_eq!(value_chunks("v=spf1 -all"), vec!["v=spf1 -all"]);
        assert_eq!(value_chunks(""), vec![""]);
    }

    #[test]
    fn long_values_split_at_255_octets() {
        let value = "x".repeat(600);
        let chunks = value_chunks(&value);
        assert_eq!(
            chunks.iter().map(String::len).collect::<Vec<_>>(),
            vec![255, 255, 90]
        );
        assert_eq!(join_character_strings(&chunks), value);
    }

    proptest! {
        #[test]
        fn chunks_join_back_and_fit(value in "\\PC{0,900}") {
            let chunks = value_chunks(&value);
            prop_assert!(chunks.iter().all(|c| c.len() <= MAX_CHARACTER_STRING));
            prop_assert_eq!(join_bytes(&chunks), value.as_bytes());
        }
    }
}
