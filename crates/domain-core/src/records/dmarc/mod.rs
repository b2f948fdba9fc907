//! DMARC policy records (RFC 7489 §6.3–§6.4, plus `np` and `psd` from DMARCbis).
//!
//! ```text
//! dmarc-record = dmarc-version dmarc-sep [dmarc-request] [dmarc-sep dmarc-srequest]
//!                [dmarc-sep dmarc-auri] [dmarc-sep dmarc-furi] [dmarc-sep dmarc-adkim]
//!                [dmarc-sep dmarc-aspf] [dmarc-sep dmarc-ainterval] [dmarc-sep dmarc-fo]
//!                [dmarc-sep dmarc-rfmt] [dmarc-sep dmarc-percent] [dmarc-sep]
//! dmarc-version = "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43 %x31   ; "v=DMARC1", first
//! dmarc-uri     = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]
//! ```

mod build;
mod parse;

use crate::macros::named_enum;
use crate::name::{DmarcPolicy, DomainName};

/// A DMARC record. Field names follow the RFC's tags; unknown tags are ignored when
/// parsing ("Unknown tags MUST be ignored", §6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcRecord {
    /// `p=`: "Requested Mail Receiver policy" (required).
    pub p: DmarcPolicy,
    /// `sp=`: "Requested Mail Receiver policy for all subdomains".
    pub sp: Option<DmarcPolicy>,
    /// `np=` (DMARCbis): policy for non-existent subdomains.
    pub np: Option<DmarcPolicy>,
    /// `psd=` (DMARCbis): whether this is a public suffix domain's record.
    pub psd: Option<Psd>,
    /// `rua=`: "Addresses to which aggregate feedback is to be sent".
    pub rua: Vec<DmarcUri>,
    /// `ruf=`: "Addresses to which message-specific failure information is to be reported".
    pub ruf: Vec<DmarcUri>,
    /// `adkim=`: "DKIM Identifier Alignment mode" (default relaxed).
    pub adkim: Option<Alignment>,
    /// `aspf=`: "SPF Identifier Alignment mode" (default relaxed).
    pub aspf: Option<Alignment>,
    /// `pct=`: "Percentage of messages from the Domain Owner's mail stream to which the
    /// DMARC policy is to be applied" (0–100, default 100).
    pub pct: Option<u8>,
    /// `fo=`: "Failure reporting options" (`0`, `1`, `d`, `s`, colon-separated).
    pub fo: Option<Vec<String>>,
    /// `rf=`: "Format to be used for message-specific failure reports" (default `afrf`).
    pub rf: Option<Vec<String>>,
    /// `ri=`: "Interval requested between aggregate reports" in seconds (default 86400).
    pub ri: Option<u32>,
}

named_enum! {
    /// `adkim=`/`aspf=` alignment mode, named by its tag value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Alignment {
        /// `r`: the organizational domains must match.
        Relaxed => "r",
        /// `s`: the domains must be identical.
        Strict => "s",
    }
}

named_enum! {
    /// `psd=` (DMARCbis), named by its tag value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Psd {
        /// `y`: the record is a public suffix domain's.
        Yes => "y",
        /// `n`: the record is an organizational domain's.
        No => "n",
        /// `u`: undeclared (the default).
        Unknown => "u",
    }
}

/// A reporting URI with an optional size limit (`mailto:a@example.com!10m`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcUri {
    /// The URI, as written (percent-encoding kept).
    pub uri: String,
    /// The size limit after `!`, as written (`10m`).
    pub max_size: Option<String>,
}

impl DmarcUri {
    /// For a `mailto:` URI, the domain of the address, lower-cased and percent-decoded:
    /// the host whose `._report._dmarc.` record must authorize external reports
    /// (RFC 7489 §7.1).
    pub fn mailto_domain(&self) -> Option<String> {
        let rest = self
            .uri
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
            .map(|_| &self.uri[7..])?;
        let address = rest.split('?').next().unwrap_or(rest);
        let (_, domain) = address.rsplit_once('@')?;
        let domain = percent_decode(domain)?.to_ascii_lowercase();
        (!domain.is_empty()).then_some(domain)
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl DmarcRecord {
    /// Where a domain's DMARC record lives: `_dmarc.<domain>` (RFC 7489 §6.1).
    pub fn host(domain: &DomainName) -> String {
        format!("_dmarc.{domain}")
    }

    /// Where `report_host` authorizes reports about `domain` (RFC 7489 §7.1):
    /// `<domain>._report._dmarc.<report host>`.
    pub fn report_authorization_host(domain: &DomainName, report_host: &str) -> String {
        format!("{domain}._report._dmarc.{report_host}")
    }

    /// The policy that applies to a subdomain (`sp=`, else `p=`), RFC 7489 §6.6.3.
    pub fn subdomain_policy(&self) -> DmarcPolicy {
        self.sp.unwrap_or(self.p)
    }
}

#[cfg(test)]
mod tests;
