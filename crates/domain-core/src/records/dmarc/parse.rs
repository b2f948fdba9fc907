//! Parsing DMARC records found in DNS.

use super::{Alignment, DmarcRecord, DmarcUri, Psd};
use crate::name::DmarcPolicy;
use crate::records::tag_list::{colon_list, is_fws};
use crate::records::{RecordError, TagList, TxtRecord};

impl TxtRecord for DmarcRecord {
    fn parse(text: &str) -> Result<Self, RecordError> {
        let list = TagList::parse(text)?;
        match list.first() {
            Some(t) if t.name == "v" && t.value == "DMARC1" => {}
            Some(t) if t.name == "v" => {
                return Err(RecordError::new(format!(
                    "`v={}` is not a DMARC version; the record must start with `v=DMARC1`",
                    t.value
                )));
            }
            _ => {
                return Err(RecordError::new(
                    "a DMARC record must start with `v=DMARC1`",
                ));
            }
        }
        let p = match list.get("p") {
            Some(p) => policy("p", p)?,
            None => {
                return Err(RecordError::new(
                    "the DMARC record has no `p=` tag; add `p=none`, `p=quarantine` or `p=reject`",
                ));
            }
        };
        Ok(DmarcRecord {
            p,
            sp: list.get("sp").map(|v| policy("sp", v)).transpose()?,
            np: list.get("np").map(|v| policy("np", v)).transpose()?,
            psd: list.get("psd").map(psd).transpose()?,
            rua: list
                .get("rua")
                .map(|v| uris("rua", v))
                .transpose()?
                .unwrap_or_default(),
            ruf: list
                .get("ruf")
                .map(|v| uris("ruf", v))
                .transpose()?
                .unwrap_or_default(),
            adkim: list
                .get("adkim")
                .map(|v| alignment("adkim", v))
                .transpose()?,
            aspf: list.get("aspf").map(|v| alignment("aspf", v)).transpose()?,
            pct: list.get("pct").map(pct).transpose()?,
            fo: list.get("fo").map(fo).transpose()?,
            rf: list.get("rf").map(rf).transpose()?,
            ri: list.get("ri").map(ri).transpose()?,
        })
    }
}

fn policy(tag: &str, value: &str) -> Result<DmarcPolicy, RecordError> {
    DmarcPolicy::parse(value).map_err(|_| {
        RecordError::new(format!(
            "`{tag}={value}` is not a DMARC policy; use `none`, `quarantine` or `reject`"
        ))
    })
}

fn psd(value: &str) -> Result<Psd, RecordError> {
    Psd::from_name(&value.to_ascii_lowercase())
        .ok_or_else(|| RecordError::new(format!("`psd={value}` is not valid; use `y`, `n` or `u`")))
}

fn alignment(tag: &str, value: &str) -> Result<Alignment, RecordError> {
    Alignment::from_name(&value.to_ascii_lowercase()).ok_or_else(|| {
        RecordError::new(format!(
            "`{tag}={value}` is not an alignment mode; use `r` (relaxed) or `s` (strict)"
        ))
    })
}

fn pct(value: &str) -> Result<u8, RecordError> {
    value
        .parse::<u8>()
        .ok()
        .filter(|p| *p <= 100 && value.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| RecordError::new(format!("`pct={value}` is not a percentage from 0 to 100")))
}

fn ri(value: &str) -> Result<u32, RecordError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| RecordError::new(format!("`ri={value}` is not a number of seconds")))
}

fn fo(value: &str) -> Result<Vec<String>, RecordError> {
    let options = colon_list(value);
    match options
        .iter()
        .find(|o| !matches!(o.as_str(), "0" | "1" | "d" | "s"))
    {
        Some(bad) => Err(RecordError::new(format!(
            "`fo=` holds `{bad}`; its options are `0`, `1`, `d` and `s`"
        ))),
        None if options.is_empty() => Err(RecordError::new("`fo=` is empty")),
        None => Ok(options),
    }
}

fn rf(value: &str) -> Result<Vec<String>, RecordError> {
    let formats = colon_list(value);
    if formats.is_empty()
        || formats
            .iter()
            .any(|f| !f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(RecordError::new(format!(
            "`rf={value}` is not a list of report formats such as `afrf`"
        )));
    }
    Ok(formats)
}

fn uris(tag: &str, value: &str) -> Result<Vec<DmarcUri>, RecordError> {
    value
        .split(',')
        .map(|item| {
            let item = item.trim_matches(is_fws);
            let (uri, max_size) = match item.rsplit_once('!') {
                Some((uri, size)) => (uri, Some(size)),
                None => (item, None),
            };
            if let Some(size) = max_size {
                let digits = size.trim_end_matches(['k', 'm', 'g', 't', 'K', 'M', 'G', 'T']);
                if digits.is_empty()
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || size.len() - digits.len() > 1
                {
                    return Err(RecordError::new(format!(
                        "`{tag}=` holds `{item}`, whose size limit `!{size}` is not a number with an optional k, m, g or t"
                    )));
                }
            }
            let scheme_ok = uri.split_once(':').is_some_and(|(scheme, rest)| {
                !rest.is_empty()
                    && scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            });
            if !scheme_ok || uri.chars().any(|c| is_fws(c) || c.is_control()) {
                return Err(RecordError::new(format!(
                    "`{tag}=` holds `{item}`, which is not a URI such as `mailto:reports@example.com`"
                )));
            }
            Ok(DmarcUri {
                uri: uri.to_owned(),
                max_size: max_size.map(str::to_owned),
            })
        })
        .collect()
}
