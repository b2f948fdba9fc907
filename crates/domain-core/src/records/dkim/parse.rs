//! Parsing DKIM key records found in DNS.

use base64::Engine as _;

use super::{DkimKeyRecord, KeyType};
use crate::records::tag_list::{colon_list, is_fws};
use crate::records::{RecordError, TagList, TxtRecord};

impl TxtRecord for DkimKeyRecord {
    fn parse(text: &str) -> Result<Self, RecordError> {
        let list = TagList::parse(text)?;
        let v = match list.get("v") {
            None => false,
            Some("DKIM1") if list.first().is_some_and(|t| t.name == "v") => true,
            Some("DKIM1") => {
                return Err(RecordError::new(
                    "`v=DKIM1` must be the first tag of a DKIM key record",
                ));
            }
            Some(other) => {
                return Err(RecordError::new(format!(
                    "`v={other}` is not a DKIM key record version; it must be `v=DKIM1`"
                )));
            }
        };
        let p = list.get("p").ok_or_else(|| {
            RecordError::new("the DKIM key record has no `p=` tag (the public key)")
        })?;
        let p_compact: String = p.chars().filter(|c| !is_fws(*c)).collect();
        let p = base64::engine::general_purpose::STANDARD
            .decode(p_compact.as_bytes())
            .map_err(|_| RecordError::new("the `p=` tag is not valid base64"))?;
        let k = list
            .get("k")
            .map(|k| match k.to_ascii_lowercase().as_str() {
                "rsa" => KeyType::Rsa,
                "ed25519" => KeyType::Ed25519,
                _ => KeyType::Other(k.to_owned()),
            });
        Ok(DkimKeyRecord {
            v,
            h: list.get("h").map(colon_list),
            k,
            n: list.get("n").map(str::to_owned),
            p,
            s: list.get("s").map(colon_list),
            t: list.get("t").map(colon_list),
        })
    }
}
