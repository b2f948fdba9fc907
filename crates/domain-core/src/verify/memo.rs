//! One verification's DNS answers, shared: every distinct query is sent once, whether it
//! is asked again later or by several evaluations at the same moment.
//!
//! SPF is evaluated once per sending address, and every evaluation walks the same
//! records; the include host's record is also read for the addresses themselves. Without
//! sharing, one check sends the same queries several times and waits for some of them
//! one after the other. A `Memo` lives for one check only, so it can never make a record
//! published a moment later look missing on the next check.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Mutex;

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};

use crate::macros::dns_decorator;
use crate::ports::{DnsAnswer, DnsLookup, MxRecord, TxtRecordData};

type Pending<'a, T> = Shared<BoxFuture<'a, DnsAnswer<T>>>;
type Table<'a, K, T> = Mutex<HashMap<K, Pending<'a, T>>>;

/// A `DnsLookup` that answers each distinct query of one check once.
pub(crate) struct Memo<'a> {
    inner: &'a dyn DnsLookup,
    txt: Table<'a, String, TxtRecordData>,
    a: Table<'a, String, Ipv4Addr>,
    aaaa: Table<'a, String, Ipv6Addr>,
    mx: Table<'a, String, MxRecord>,
    ptr: Table<'a, IpAddr, String>,
    cname: Table<'a, String, String>,
}

impl<'a> Memo<'a> {
    pub(crate) fn new(inner: &'a dyn DnsLookup) -> Self {
        Memo {
            inner,
            txt: Mutex::default(),
            a: Mutex::default(),
            aaaa: Mutex::default(),
            mx: Mutex::default(),
            ptr: Mutex::default(),
            cname: Mutex::default(),
        }
    }
}

/// The pending or finished answer for `key`, starting the query if nobody has.
fn shared<'a, K, T>(
    table: &Table<'a, K, T>,
    key: K,
    query: impl FnOnce() -> BoxFuture<'a, DnsAnswer<T>>,
) -> impl Future<Output = DnsAnswer<T>> + 'a
where
    K: Eq + Hash,
    T: Clone + Send + Sync + 'a,
{
    let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
    table.entry(key).or_insert_with(|| query().shared()).clone()
}

/// Names differ only in case and a trailing dot as far as DNS is concerned.
fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Each query of a [`Memo`]: the answer shared in the query's table (the field named
/// like the query), under the name as DNS compares names, or under the address.
macro_rules! memoized {
    ($this:ident, $query:ident, name: $name:ident, $rtype:literal) => {{
        let name = $name.to_owned();
        let inner = $this.inner;
        shared(&$this.$query, key(&name), move || {
            async move { inner.$query(&name).await }.boxed()
        })
        .await
    }};
    ($this:ident, $query:ident, ip: $ip:ident, $rtype:literal) => {{
        let inner = $this.inner;
        shared(&$this.$query, $ip, move || {
            async move { inner.$query($ip).await }.boxed()
        })
        .await
    }};
}

dns_decorator!(impl DnsLookup for Memo<'_>, each query: memoized!);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeDns;
    use futures::executor::block_on;

    #[test]
    fn each_distinct_query_is_sent_once() {
        let fake = FakeDns::new();
        fake.txt("example.com", "v=spf1 -all");
        let memo = Memo::new(&fake);
        block_on(async {
            let (a, b) = futures::join!(memo.txt("example.com"), memo.txt("EXAMPLE.com."));
            assert_eq!(a, b);
            memo.txt("example.com").await;
            memo.a("example.com").await;
            memo.txt("other.example").await;
            memo.cname("example.com").await;
            memo.cname("Example.com").await;
        });
        assert_eq!(
            fake.query_count(),
            4,
            "two TXT names, one A and one CNAME query"
        );
    }
}
