//! DKIM signing (RFC 6376): `relaxed/relaxed`, with a domain's key, in the key's
//! algorithm (`rsa-sha256`).
//!
//! A key design decision: the sending pipeline never holds a private key. It hands the
//! message to the service embedding this crate, which opens the domain's sealed key,
//! builds a [`DkimSigner`] once (parsing PKCS#8 into a [`SigningKey`] is the slow
//! part), caches it, and signs each message with it; [`from_domain`] tells it which
//! domain's key to use.
//!
//! What the signature covers, and why:
//!
//! * **Algorithm** `rsa-sha256` (RSASSA-PKCS1-v1_5 with SHA-256): RFC 8301 §3.1 makes it
//!   the one every verifier must support and forbids `rsa-sha1` for signers.
//! * **Canonicalization** `relaxed/relaxed`: survives the re-folding of header fields
//!   and the whitespace changes MTAs make; `simple` breaks on them for no security gain.
//! * **No `l=`**: a body length limit lets anyone append content after the signed part
//!   and keep a passing signature (RFC 6376 §8.2), which is exactly what a phisher
//!   wants from a reputable domain.
//! * **No `x=`**: an expiry would bound replay only if it were short, and a short one
//!   fails legitimate mail still in a retry queue (RFC 5321 §4.5.4.1 suggests retrying
//!   for 4–5 days), forwarded later, or re-checked from an archive. What bounds the life
//!   of our signatures is key rotation: once a retired key's record is removed from DNS,
//!   every signature it made stops verifying.
//! * **`t=`** is the signing time, so receivers can spot replays of old mail.
//! * **Signed header fields**: see [`DkimSigner`].
//!
//! Line endings: the message may use CRLF, bare LF, or a mix; it is converted to CRLF
//! before anything else (RFC 6376 §5.3 requires it of signers), and the signed message
//! is returned with CRLF throughout, the DKIM-Signature field included — the form SMTP
//! transmits (RFC 5321 §2.3.8). We do not hand back the caller's own convention: with
//! CRLF, the bytes we return are exactly the bytes we hashed, so no verifier can
//! disagree about a bare CR or LF; and a mixed input has no single convention to return.
//!
//! Two more changes, for verifiers that misread RFC 6376 — mail-auth 0.13.3, Stalwart's
//! verifier and our interop reference, among them. Neither changes what relaxed
//! canonicalization hashes, nor anything a reader sees:
//!
//! * whitespace-only lines at the very end of the body lose their whitespace (they
//!   become empty lines), because some verifiers hash them as content; see
//!   `message::empty_trailing_blank_lines`;
//! * WSP between a header field name and its colon (`Subject : …`, RFC 5322 §4.5's
//!   obsolete syntax) is removed, because some verifiers then fail to find the field
//!   by the name listed in `h=`.

mod address;
mod canon;
mod field;
mod message;
#[cfg(test)]
mod tests;

use std::fmt;

use aws_lc_rs::digest;
use base64::Engine as _;
use time::OffsetDateTime;

pub use address::{from_domain, mailbox_domain};

use crate::crypto::{PrivateKey, SigningKey};
use crate::error::InputError;
use crate::name::{DomainName, Selector};
use crate::records::dkim::Algorithm;
use canon::Sink;
use field::FieldWriter;
use message::{Field, Parsed};

/// Why a message could not be signed, or its `From:` domain not found. Messages never
/// contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The private key does not parse as PKCS#8 of an algorithm we sign with, or (RSA)
    /// is outside 2048–8192 bits (RFC 8301 §3.2 forbids signing with keys under 1024
    /// bits; we issue 2048 and up).
    #[error("the private key is not a usable signing key (PKCS#8; RSA of 2048 to 8192 bits)")]
    InvalidKey,
    /// The message has no `From:` field.
    #[error(
        "the message has no From header field; RFC 5322 §3.6 requires exactly one, and \
         DKIM must sign it (RFC 6376 §5.4)"
    )]
    NoFrom,
    /// The message has several `From:` fields.
    #[error(
        "the message has {0} From header fields; RFC 5322 §3.6 allows exactly one, and \
         receivers cannot tell which one a signature vouches for"
    )]
    SeveralFrom(usize),
    /// A line of the header section is not a header field.
    #[error("header line {line} is malformed: {reason}")]
    MalformedHeader {
        /// The 1-based line number in the header section.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The `From:` field's address cannot be read unambiguously.
    #[error("the From header field has no usable address: {0}")]
    FromAddress(&'static str),
    /// The `From:` address's domain is not a domain we could hold a key for.
    #[error("the From address's domain is not usable: {0}")]
    FromDomain(InputError),
    /// The clock says the time is before 1970, which `t=` cannot express.
    #[error("the signing time is before 1970-01-01; check the clock")]
    TimeBeforeEpoch,
    /// The cryptographic library refused to sign (it does not say why).
    #[error("the signing operation failed")]
    Crypto,
}

/// The name of the header field we add.
const SIGNATURE_FIELD: &str = "DKIM-Signature";

/// Whether a header field name is listed in `h=` beyond its occurrences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Oversign {
    /// Listed once more than it occurs, even when it does not occur at all.
    Always,
    /// Listed once more than it occurs if it occurs; not listed otherwise.
    IfPresent,
}

/// The header fields we sign, in `h=` order. See [`DkimSigner`] for the reasoning.
const SIGNED_FIELDS: &[(&str, Oversign)] = &[
    ("from", Oversign::Always),
    ("reply-to", Oversign::Always),
    ("subject", Oversign::Always),
    ("to", Oversign::Always),
    ("cc", Oversign::Always),
    ("sender", Oversign::IfPresent),
    ("date", Oversign::IfPresent),
    ("message-id", Oversign::IfPresent),
    ("in-reply-to", Oversign::IfPresent),
    ("references", Oversign::IfPresent),
    ("mime-version", Oversign::IfPresent),
    ("content-type", Oversign::IfPresent),
    ("content-transfer-encoding", Oversign::IfPresent),
    ("list-id", Oversign::IfPresent),
    ("list-unsubscribe", Oversign::IfPresent),
    ("list-unsubscribe-post", Oversign::IfPresent),
    ("list-help", Oversign::IfPresent),
    ("list-subscribe", Oversign::IfPresent),
    ("list-post", Oversign::IfPresent),
    ("list-owner", Oversign::IfPresent),
    ("list-archive", Oversign::IfPresent),
];

/// Signs messages for one domain and selector with one key.
///
/// Build it once per key and share it (`Send + Sync`, signing takes `&self`): the
/// PKCS#8 key is parsed into a [`SigningKey`] at construction, so [`DkimSigner::sign`]
/// costs one private-key operation plus hashing. Its `Debug` shows the domain, the
/// selector and the key size, never the key.
///
/// # Signed header fields
///
/// RFC 6376 §5.4.1's list, plus the MIME fields that decide how the body is rendered and
/// the RFC 2369 / RFC 8058 list fields (RFC 8058 §4 requires `List-Unsubscribe` and
/// `List-Unsubscribe-Post` to be signed for one-click unsubscription). Trace fields
/// (`Received`, `Return-Path`) and fields that relays rewrite are not signed.
///
/// A verifier matches the names in `h=` to fields from the bottom of the header up, so
/// a field added *above* a signed one is not covered and the signature still passes —
/// yet many mail readers show the topmost copy. Listing a name once more than it occurs
/// ("over-signing", RFC 6376 §8.15) makes the extra entry stand for "no further field
/// of this name", so adding one breaks the signature. Every field we sign is
/// over-signed when present: each is either limited to one occurrence by RFC 5322 §3.6
/// or one we set ourselves, so no legitimate hop adds a second copy.
///
/// `From`, `Reply-To`, `Subject`, `To` and `Cc` are over-signed even when absent (listed
/// once with no field behind it), as rspamd does by default: they are what the reader
/// sees and answers, and a replayed message with an added `Reply-To` or `Cc` is a
/// phishing tool. The others are listed only when present, because a submission agent
/// may legitimately add a missing `Date`, `Message-ID` or `Sender` (RFC 6409 §8), and
/// a list server its `List-*` fields, after we sign.
///
/// `From` must occur exactly once ([`SignError::NoFrom`], [`SignError::SeveralFrom`]):
/// RFC 5322 §3.6 says so, and with two the DMARC-relevant author is ambiguous.
pub struct DkimSigner {
    key: SigningKey,
    domain: DomainName,
    selector: Selector,
}

impl DkimSigner {
    /// A signer for `d=domain`, `s=selector` with `key`, which must be the private half
    /// of the key published at `<selector>._domainkey.<domain>`.
    pub fn new(
        key: &PrivateKey,
        domain: &DomainName,
        selector: &Selector,
    ) -> Result<Self, SignError> {
        let key = SigningKey::new(key).map_err(|_| SignError::InvalidKey)?;
        Ok(DkimSigner {
            key,
            domain: domain.clone(),
            selector: selector.clone(),
        })
    }

    /// The signing domain (`d=`).
    pub fn domain(&self) -> &DomainName {
        &self.domain
    }

    /// The selector (`s=`).
    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    /// Whether its key signs cheaply ([`SigningKey::is_cheap`]).
    pub fn is_cheap(&self) -> bool {
        self.key.is_cheap()
    }

    /// Signs `message` (an RFC 5322 message, CRLF or LF line endings) at time `now`
    /// (`t=`).
    pub fn sign(&self, message: &[u8], now: OffsetDateTime) -> Result<DkimSignature, SignError> {
        sign_all(&[self], message, now)
    }

    /// The `DKIM-Signature` field of this signer over a prepared message.
    fn field(&self, prepared: &Prepared<'_>) -> Result<String, SignError> {
        let mut field = FieldWriter::new(SIGNATURE_FIELD);
        field.spaced("v=1;");
        field.spaced(&format!("a={};", self.key.algorithm()));
        field.spaced("c=relaxed/relaxed;");
        field.spaced(&format!("d={};", self.domain));
        field.spaced(&format!("s={};", self.selector));
        field.spaced(&format!("t={};", prepared.timestamp));
        for (i, name) in prepared.names.iter().enumerate() {
            let end = if i + 1 == prepared.names.len() {
                ';'
            } else {
                ':'
            };
            if i == 0 {
                field.spaced(&format!("h={name}{end}"));
            } else {
                field.glued(&format!("{name}{end}"));
            }
        }
        field.spaced(&format!("bh={};", prepared.body_hash));
        field.spaced("b=");

        // The signed fields, canonicalized once for every signer, then the signature field
        // itself, with `b=` empty and without its final CRLF (RFC 6376 §3.7).
        let mut header_hash = HashSink::new();
        header_hash.put(&prepared.canonical_headers);
        let value = &field.as_str().as_bytes()[SIGNATURE_FIELD.len() + 1..];
        canon::relaxed_header(SIGNATURE_FIELD.as_bytes(), value, false, &mut header_hash);
        let signature = self
            .key
            .sign_sha256(&header_hash.finish())
            .ok_or(SignError::Crypto)?;
        field.glued_split(&base64::engine::general_purpose::STANDARD.encode(&signature));
        Ok(field.finish())
    }
}

/// Signs `message` once with each of `signers` — a domain signing with RSA and Ed25519
/// adds one `DKIM-Signature` field per algorithm (RFC 8463 §4) — at time `now`. The
/// message is parsed, canonicalized and its body hashed once for all of them; the fields
/// are prepended in the order of `signers`. All signers must be for one domain.
pub fn sign_all(
    signers: &[&DkimSigner],
    message: &[u8],
    now: OffsetDateTime,
) -> Result<DkimSignature, SignError> {
    let timestamp = now.unix_timestamp();
    if timestamp < 0 {
        return Err(SignError::TimeBeforeEpoch);
    }
    let Some(first) = signers.first() else {
        return Err(SignError::InvalidKey);
    };
    let normalized = message::normalize_line_endings(message);
    let parsed = message::parse(&normalized)?;
    single_from(&parsed)?;
    let prepared = Prepared::new(&parsed, timestamp);
    let mut fields = Vec::with_capacity(signers.len());
    for signer in signers {
        fields.push(SignatureField {
            field: signer.field(&prepared)?,
            selector: signer.selector.clone(),
            algorithm: signer.key.algorithm(),
        });
    }
    let body = &prepared.body;
    let mut signed = Vec::with_capacity(
        fields.iter().map(|f| f.field.len() + 2).sum::<usize>() + normalized.len() + 2,
    );
    for f in &fields {
        signed.extend_from_slice(f.field.as_bytes());
        signed.extend_from_slice(b"\r\n");
    }
    // Rebuilt field by field: this drops WSP between a name and its colon (see the
    // module documentation) and ends the last field with CRLF if it had none.
    for f in &parsed.headers {
        signed.extend_from_slice(f.name);
        signed.push(b':');
        signed.extend_from_slice(f.value);
        signed.extend_from_slice(b"\r\n");
    }
    if parsed.separator {
        signed.extend_from_slice(b"\r\n");
    }
    signed.extend_from_slice(body);
    Ok(DkimSignature {
        fields,
        domain: first.domain.clone(),
        signed,
    })
}

/// What every signature of one message shares: the body hash, the signed header fields
/// canonicalized, and the `h=` list.
struct Prepared<'a> {
    timestamp: i64,
    body: std::borrow::Cow<'a, [u8]>,
    body_hash: String,
    canonical_headers: Vec<u8>,
    names: Vec<&'static str>,
}

impl<'a> Prepared<'a> {
    fn new(parsed: &Parsed<'a>, timestamp: i64) -> Self {
        let body = message::empty_trailing_blank_lines(parsed.body);
        let mut body_hash = HashSink::new();
        canon::relaxed_body(&body, &mut body_hash);
        let body_hash = base64::engine::general_purpose::STANDARD.encode(body_hash.finish());

        // The signed fields in `h=` order, each name's occurrences bottom-up (RFC 6376
        // §5.4.2), and the `h=` list collected as we go.
        let mut canonical_headers: Vec<u8> = Vec::with_capacity(1024);
        let mut names: Vec<&'static str> = Vec::with_capacity(2 * SIGNED_FIELDS.len());
        for &(name, oversign) in SIGNED_FIELDS {
            let mut occurrences = 0;
            for field in parsed
                .headers
                .iter()
                .rev()
                .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
            {
                canon::relaxed_header(field.name, field.value, true, &mut canonical_headers);
                occurrences += 1;
            }
            if occurrences > 0 || oversign == Oversign::Always {
                // The extra entry matches no field, so it adds nothing to the hash.
                names.extend(std::iter::repeat_n(name, occurrences + 1));
            }
        }
        Prepared {
            timestamp,
            body,
            body_hash,
            canonical_headers,
            names,
        }
    }
}

impl fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSigner")
            .field("domain", &self.domain.as_str())
            .field("selector", &self.selector.as_str())
            .field("key", &format_args!("{}", self.key))
            .finish()
    }
}

/// One `DKIM-Signature` field of a signed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureField {
    /// The whole header field, `DKIM-Signature: v=1; a=…; …; b=…`, folded with CRLF + SP
    /// so that lines stay within 78 characters (only a `d=` tag of a very long domain can
    /// exceed it), without a final CRLF.
    pub field: String,
    /// The selector that signed (`s=`).
    pub selector: Selector,
    /// The algorithm (`a=`).
    pub algorithm: Algorithm,
}

/// The signatures made by [`sign_all`] (or [`DkimSigner::sign`]), and the signed message.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimSignature {
    fields: Vec<SignatureField>,
    domain: DomainName,
    signed: Vec<u8>,
}

impl DkimSignature {
    /// The first signature's header field (the RSA one when a domain signs with
    /// several algorithms).
    pub fn header_field(&self) -> &str {
        &self.fields[0].field
    }

    /// Every signature, in the order they were prepended.
    pub fn fields(&self) -> &[SignatureField] {
        &self.fields
    }

    /// The first signature's selector (`s=`), which names the key record.
    pub fn selector(&self) -> &Selector {
        &self.fields[0].selector
    }

    /// The signing domain (`d=`).
    pub fn domain(&self) -> &DomainName {
        &self.domain
    }

    /// The message as signed: the header fields, each with a CRLF, prepended to the message,
    /// whose line endings are all CRLF (a last header line without one gets one), with
    /// no WSP before a header field's colon and the whitespace-only lines at the end of
    /// the body emptied (see the module documentation).
    pub fn signed_message(&self) -> &[u8] {
        &self.signed
    }

    /// The signed message, without copying it.
    pub fn into_signed_message(self) -> Vec<u8> {
        self.signed
    }
}

impl fmt::Debug for DkimSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSignature")
            .field(
                "header_fields",
                &self.fields.iter().map(|f| &f.field).collect::<Vec<_>>(),
            )
            .field(
                "signed_message",
                &format_args!("<{} bytes>", self.signed.len()),
            )
            .finish()
    }
}

/// The one `From:` field, or why there is not exactly one.
pub(crate) fn single_from<'a>(parsed: &Parsed<'a>) -> Result<Field<'a>, SignError> {
    let mut from = parsed
        .headers
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case(b"from"));
    match (from.next(), from.count()) {
        (None, _) => Err(SignError::NoFrom),
        (Some(field), 0) => Ok(*field),
        (Some(_), more) => Err(SignError::SeveralFrom(more + 1)),
    }
}

/// A SHA-256 context fed through a buffer: canonicalization writes many small pieces,
/// and one call into AWS-LC per piece would cost more than the hashing.
struct HashSink {
    context: digest::Context,
    buffer: Vec<u8>,
}

impl HashSink {
    const CAPACITY: usize = 8192;

    fn new() -> Self {
        HashSink {
            context: digest::Context::new(&digest::SHA256),
            buffer: Vec::with_capacity(Self::CAPACITY),
        }
    }

    fn finish(mut self) -> digest::Digest {
        self.context.update(&self.buffer);
        self.context.finish()
    }
}

impl Sink for HashSink {
    fn put(&mut self, bytes: &[u8]) {
        if self.buffer.len() + bytes.len() > Self::CAPACITY {
            self.context.update(&self.buffer);
            self.buffer.clear();
            if bytes.len() > Self::CAPACITY {
                self.context.update(bytes);
                return;
            }
        }
        self.buffer.extend_from_slice(bytes);
    }
}
