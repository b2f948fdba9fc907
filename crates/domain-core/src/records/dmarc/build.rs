//! Building DMARC records.

use std::fmt;

use super::{DmarcRecord, DmarcUri};
use crate::name::{DmarcPolicy, RuaAddress};

impl DmarcRecord {
    /// The record we ask a domain to publish: its policy and, if given, where aggregate
    /// reports go. Every other tag keeps its default.
    pub fn ours(policy: DmarcPolicy, rua: Option<&RuaAddress>) -> Self {
        DmarcRecord {
            p: policy,
            sp: None,
            np: None,
            psd: None,
            rua: rua
                .map(|a| DmarcUri {
                    uri: a.to_mailto_uri(),
                    max_size: None,
                })
                .into_iter()
                .collect(),
            ruf: Vec::new(),
            adkim: None,
            aspf: None,
            pct: None,
            fo: None,
            rf: None,
            ri: None,
        }
    }
}

impl fmt::Display for DmarcRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tags = vec!["v=DMARC1".to_owned(), format!("p={}", self.p)];
        if let Some(sp) = self.sp {
            tags.push(format!("sp={sp}"));
        }
        if let Some(np) = self.np {
            tags.push(format!("np={np}"));
        }
        if let Some(psd) = self.psd {
            tags.push(format!("psd={}", psd.as_str()));
        }
        if !self.rua.is_empty() {
            tags.push(format!("rua={}", uri_list(&self.rua)));
        }
        if !self.ruf.is_empty() {
            tags.push(format!("ruf={}", uri_list(&self.ruf)));
        }
        if let Some(a) = self.adkim {
            tags.push(format!("adkim={}", a.as_str()));
        }
        if let Some(a) = self.aspf {
            tags.push(format!("aspf={}", a.as_str()));
        }
        if let Some(pct) = self.pct {
            tags.push(format!("pct={pct}"));
        }
        if let Some(fo) = &self.fo {
            tags.push(format!("fo={}", fo.join(":")));
        }
        if let Some(rf) = &self.rf {
            tags.push(format!("rf={}", rf.join(":")));
        }
        if let Some(ri) = self.ri {
            tags.push(format!("ri={ri}"));
        }
        f.write_str(&tags.join("; "))
    }
}

fn uri_list(uris: &[DmarcUri]) -> String {
    uris.iter()
        .map(|u| match &u.max_size {
            Some(size) => format!("{}!{size}", u.uri),
            None => u.uri.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}
