//! Private keys at rest: the store holds sealed bytes only, and a sealed key is bound to
//! its row.

use domain_core::RepoError;
use domain_core::crypto::{self, GeneratedKey, KeyAlgorithm, KeyError, KeyRow, SealedKey};
use domain_core::model::DomainId;
use domain_core::model::{Domain, EventKind, Scope};
use domain_core::name::Selector;
use domain_core::ports::DomainRepo;
use domain_core::ports::LeaseOnWrite;
use domain_core::records::dkim::DkimPublicKey;

use crate::backend::{Backend, Cell};
use crate::fixtures::*;

/// The DER of an RSA `PrivateKeyInfo` (PKCS#8) after its outer length: version 0, the
/// rsaEncryption algorithm identifier, and the OCTET STRING that holds the key.
const PKCS8_RSA_HEADER: &[u8] = &[
    0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
    0x05, 0x00, 0x04, 0x82,
];
/// The DER of a 2048-bit PKCS#1 `RSAPrivateKey` after its outer length: version 0 and the
/// header of a 257-byte modulus.
const PKCS1_RSA2048_HEADER: &[u8] = &[0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x01, 0x00];
/// The same headers as they show in base64 (PEM bodies), whatever the key's length bytes.
const BASE64_HEADERS: [&str; 2] = ["ADANBgkqhkiG9w0BAQEFAASC", "IBAAKCAQEA"];
/// PEM armour.
const PEM_MARKERS: [&str; 2] = ["-----BEGIN", "PRIVATE KEY-----"];

/// After domains are created, rotated, promoted and a selector removed, no stored byte
/// anywhere holds a private key in clear.
///
/// `PrivateKey` deliberately shows no bytes, so the case looks for what every encoding of
/// an RSA private key must contain: its modulus, which the public key gives away. The tail
/// of the modulus followed by the public exponent appears in SubjectPublicKeyInfo,
/// PKCS#1 and PKCS#8 alike; it must be found in the public-key column (which proves the
/// search works) and nowhere else. On top, no cell holds a private-key DER or base64
/// header or PEM armour.
pub async fn no_private_key_material_is_stored_in_clear<B: Backend>(backend: &B) {
    let repo = backend.repo();
    let generate = || crypto::generate(KeyAlgorithm::default()).expect("key generation");
    let mut generated: Vec<GeneratedKey> = Vec::new();
    let mut domains = Vec::new();
    for (i, owner) in [tenant("p1", "t1"), tenant("p1", "t2"), shared("p1")]
        .into_iter()
        .enumerate()
    {
        let key = generate();
        let domain = new_domain_with(owner, &format!("k{i}.example.com"), &key);
        repo.insert(&domain, &[event(&domain, EventKind::Created, T0)])
            .await
            .unwrap();
        generated.push(key);
        domains.push(domain);
    }
    // The second and third rotate; the third also promotes its new key and removes the
    // old selector, which destroys that private key.
    for domain in &mut domains[1..] {
        let key = generate();
        start_rotation_with(domain, &key, at(1));
        write_with_event(&*repo, domain, EventKind::RotationStarted, 1).await;
        domain.version += 1;
        generated.push(key);
    }
    let third = &mut domains[2];
    let pending = third.keys.pending().unwrap().index;
    third.keys.promote(pending, at(2)).unwrap();
    third.keys.remove(&base(), at(3)).unwrap();
    write_with_event(&*repo, third, EventKind::SelectorRemoved, 3).await;

    let cells = backend.dump().await;
    for key in &generated {
        let witness = modulus_tail(&key.public);
        let holders: Vec<_> = cells
            .iter()
            .filter(|c| contains(&c.bytes, &witness))
            .map(|c| (c.table.as_str(), c.column.as_str()))
            .collect();
        assert_eq!(
            holders,
            [("dkim_keys", "public_key")],
            "the modulus must be stored once, as the public key, and nowhere else"
        );
        let hex: String = witness.iter().map(|b| format!("{b:02x}")).collect();
        assert_no_cell_holds(&cells, hex.as_bytes(), "the modulus in hex");
        assert_no_cell_holds(&cells, hex.to_uppercase().as_bytes(), "the modulus in HEX");
    }
    assert_no_cell_holds(&cells, PKCS8_RSA_HEADER, "a PKCS#8 private key header");
    assert_no_cell_holds(&cells, PKCS1_RSA2048_HEADER, "a PKCS#1 private key header");
    for text in BASE64_HEADERS.iter().chain(&PEM_MARKERS) {
        assert_no_cell_holds(&cells, text.as_bytes(), text);
    }

    // What is stored is the sealed key, and it opens for its own row; the removed one is
    // gone.
    let store = backend.key_store();
    for domain in &domains {
        for key in domain.keys.all() {
            match &key.sealed {
                Some(sealed) => {
                    let stored = store.sealed_key(&domain.id, &key.selector).await.unwrap();
                    assert_eq!(&stored, sealed);
                    kek()
                        .open(&stored, &row_of(domain, key))
                        .expect("opens for its row");
                }
                None => assert_eq!(
                    store
                        .sealed_key(&domain.id, &key.selector)
                        .await
                        .unwrap_err(),
                    RepoError::NotFound
                ),
            }
        }
    }
    let sealed_cells = cells
        .iter()
        .filter(|c| (c.table.as_str(), c.column.as_str()) == ("dkim_keys", "sealed_private"))
        .count();
    assert_eq!(sealed_cells, 4, "five keys, one destroyed");
}

/// A sealed key copied in SQL to another domain's row, or to another selector of its own
/// domain, is handed out by the store but does not open there: the seal binds it to its
/// domain id and selector.
pub async fn a_sealed_key_copied_to_another_row_does_not_open<B: Backend>(backend: &B) {
    let repo = backend.repo();
    let store = backend.key_store();
    let mut victim = new_domain(tenant("p1", "t1"), "victim.example.com");
    let thief = new_domain(tenant("p2", "t9"), "thief.example.com");
    start_rotation(&mut victim, 1, at(1));
    repo.insert(&victim, &[]).await.unwrap();
    repo.insert(&thief, &[]).await.unwrap();
    let first = base();
    let second = victim.keys.pending().unwrap().selector.clone();
    let row = |domain: &DomainId,
               generation: u32,
               selector: &Selector|
     -> (DomainId, u32, Selector) { (domain.clone(), generation, selector.clone()) };
    let open = |sealed: &SealedKey, (domain, generation, selector): (DomainId, u32, Selector)| {
        kek().open(
            sealed,
            &KeyRow {
                domain: &domain,
                generation,
                selector: &selector,
            },
        )
    };
    // Copies in SQL the sealed key of `from`'s first selector to `to`'s `to_selector`;
    // the number of rows changed.
    let copy = async |from: &DomainId, to: &DomainId, to_selector: &Selector| {
        let (from, selector) = (lit(from.as_str()), lit(first.as_str()));
        let (to, to_selector) = (lit(to.as_str()), lit(to_selector.as_str()));
        backend
            .execute(&format!(
                "UPDATE dkim_keys SET sealed_private = \
                 (SELECT sealed_private FROM dkim_keys WHERE domain_id = {from} AND selector = {selector}) \
                 WHERE domain_id = {to} AND selector = {to_selector}"
            ))
            .await
    };

    assert_eq!(copy(&victim.id, &thief.id, &first).await, 1);
    let copied = store.sealed_key(&thief.id, &first).await.unwrap();
    assert_eq!(
        Some(&copied),
        victim.keys.active().sealed.as_ref(),
        "the copy took place"
    );
    assert_eq!(
        open(&copied, row(&thief.id, 1, &first)).unwrap_err(),
        KeyError::DoesNotOpen
    );
    open(&copied, row(&victim.id, 1, &first)).expect("the key itself is intact");

    assert_eq!(copy(&victim.id, &victim.id, &second).await, 1);
    let moved = store.sealed_key(&victim.id, &second).await.unwrap();
    assert_eq!(
        open(&moved, row(&victim.id, 2, &second)).unwrap_err(),
        KeyError::DoesNotOpen
    );

    // The thief's domain still reads as a domain; it just cannot sign.
    repo.get(&Scope::System, &thief.id).await.unwrap();
}

/// The last 64 bytes of the modulus and the public exponent's DER, as they end an RSA
/// SubjectPublicKeyInfo and appear inside every RSA private key encoding.
/// Writes `domain` with one timeline event of `kind` at `at(minute)`.
async fn write_with_event(repo: &dyn DomainRepo, domain: &Domain, kind: EventKind, minute: i64) {
    repo.update(
        domain,
        &[event(domain, kind, at(minute))],
        LeaseOnWrite::Keep,
    )
    .await
    .unwrap();
}

fn modulus_tail(public: &DkimPublicKey) -> Vec<u8> {
    let spki = public.p_bytes();
    // e = 65537 as DER: INTEGER, 3 bytes, 01 00 01. Keys from `crypto::generate` use it.
    let exponent = [0x02, 0x03, 0x01, 0x00, 0x01];
    assert!(spki.ends_with(&exponent), "an RSA key with e = 65537");
    spki[spki.len() - exponent.len() - 64..].to_vec()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[track_caller]
fn assert_no_cell_holds(cells: &[Cell], needle: &[u8], what: &str) {
    let holders: Vec<_> = cells
        .iter()
        .filter(|c| contains(&c.bytes, needle))
        .map(|c| format!("{}.{}", c.table, c.column))
        .collect();
    assert!(holders.is_empty(), "{what} is stored in {holders:?}");
}
