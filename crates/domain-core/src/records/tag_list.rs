//! The tag=value list shared by DKIM key records and DMARC records.
//!
//! ```text
//! tag-list  =  tag-spec *( ";" tag-spec ) [ ";" ]          ; RFC 6376 §3.2
//! tag-spec  =  [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
//! tag-name  =  ALPHA *ALNUMPUNC
//! tag-value =  [ tval *( 1*(WSP / FWS) tval ) ]
//! ```
//!
//! Folding whitespace is tolerated anywhere the grammar allows it, empty specs (`;;`)
//! are skipped as receivers do, and a duplicated tag makes the whole list invalid
//! ("if a tag name does occur more than once, the entire tag-list is invalid").

use super::RecordError;

/// One `name=value` pair, with the value's surrounding whitespace removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The tag name, case preserved (tag names are case-sensitive).
    pub name: String,
    /// The value, trimmed; inner whitespace kept.
    pub value: String,
}

/// A parsed tag-list, in the order the tags appeared.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagList {
    tags: Vec<Tag>,
}

impl TagList {
    /// Parses a tag-list.
    pub fn parse(text: &str) -> Result<Self, RecordError> {
        let mut tags: Vec<Tag> = Vec::new();
        for spec in text.split(';') {
            let spec = spec.trim_matches(is_fws);
            if spec.is_empty() {
                continue;
            }
            let (name, value) = spec
                .split_once('=')
                .ok_or_else(|| RecordError::new(format!("`{spec}` is not a tag=value pair")))?;
            let name = name.trim_matches(is_fws);
            let value = value.trim_matches(is_fws);
            if !is_tag_name(name) {
                return Err(RecordError::new(format!(
                    "`{name}` is not a valid tag name"
                )));
            }
            if let Some(c) = value.chars().find(|c| c.is_control() && !is_fws(*c)) {
                return Err(RecordError::new(format!(
                    "the value of tag `{name}` contains the control character U+{:04X}",
                    c as u32
                )));
            }
            if tags.iter().any(|t| t.name == name) {
                return Err(RecordError::new(format!(
                    "the tag `{name}` appears more than once"
                )));
            }
            tags.push(Tag {
                name: name.to_owned(),
                value: value.to_owned(),
            });
        }
        Ok(TagList { tags })
    }

    /// The tags in order.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// The value of a tag, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.value.as_str())
    }

    /// The first tag, if any.
    pub fn first(&self) -> Option<&Tag> {
        self.tags.first()
    }
}

/// Folding white space: SP, HTAB, CR and LF (RFC 5322 FWS as RFC 6376 uses it).
pub(crate) fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// The items of a colon-separated tag value (`h=sha256:sha1`, `fo=0:d`), each trimmed of
/// folding whitespace; empty items are dropped.
pub(crate) fn colon_list(value: &str) -> Vec<String> {
    value
        .split(':')
        .map(|item| item.trim_matches(is_fws).to_owned())
        .filter(|item| !item.is_empty())
        .collect()
}

fn is_tag_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_folding_whitespace_and_trailing_separator() {
        let list = TagList::parse(" v=DKIM1 ;\r\n\tk = rsa; p=AB CD\r\n EF ;").unwrap();
        assert_eq!(list.get("v"), Some("DKIM1"));
        assert_eq!(list.get("k"), Some("rsa"));
        assert_eq!(list.get("p"), Some("AB CD\r\n EF"));
        assert_eq!(list.first().unwrap().name, "v");
    }

    #[test]
    fn empty_specs_are_skipped() {
        let list = TagList::parse("v=DMARC1;; p=none; ;").unwrap();
        assert_eq!(list.tags().len(), 2);
    }

    #[test]
    fn values_may_contain_equals_signs() {
        let list = TagList::parse("rua=mailto:a@example.com?subject=x").unwrap();
        assert_eq!(list.get("rua"), Some("mailto:a@example.com?subject=x"));
    }

    #[test]
    fn rejects_duplicates_missing_equals_and_bad_names() {
        for (text, problem) in [
            ("p=a; p=b", "more than once"),
            ("v=DKIM1; garbage", "tag=value"),
            ("1x=y", "tag name"),
            ("a=b\u{0}", "control"),
        ] {
            let err = TagList::parse(text).unwrap_err();
            assert!(err.message().contains(problem), "{text:?}: {err}");
        }
    }

    #[test]
    fn tag_names_are_case_sensitive() {
        let list = TagList::parse("P=x; p=y").unwrap();
        assert_eq!(list.get("p"), Some("y"));
        assert_eq!(list.get("P"), Some("x"));
    }
}
