//! What one caller may cost the server: a per-tenant token bucket on the admin API's
//! changes, a bound on concurrent internal requests, and a time limit on every request.
//!
//! A key design decision made here is that each limit answers at once when it is
//! reached — `429` or `503` with `Retry-After` — instead of queueing: a queue without a
//! bound is memory without a bound, and a caller told when to come back can plan, while
//! one left waiting cannot. Each middleware takes its own state, so this module knows
//! nothing of the router's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use domain_core::model::Scope;
use tokio::sync::Semaphore;

use crate::auth::Authenticated;
use crate::error::ApiError;

/// The limits of the HTTP edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The per-tenant token bucket on the admin API's changes.
    pub rate: RateLimit,
    /// Internal requests served at once; more answer `503` with `Retry-After`.
    pub internal_concurrency: usize,
    /// How long each kind of request may take.
    pub timeouts: Timeouts,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rate: RateLimit::default(),
            internal_concurrency: default_internal_concurrency(),
            timeouts: Timeouts::default(),
        }
    }
}

/// The default bound on concurrent internal requests: four per CPU. Signing is CPU work
/// (canonicalization, hashing, one RSA operation) and a sender authorization is one store
/// read, so a few requests per core keep the cores and the connection pool busy; more
/// would only wait for a core while each holds its body (up to 32 MiB) in memory.
pub fn default_internal_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from) * 4
}

/// The admin API's per-tenant token bucket: `per_second` changes on average, `burst` at
/// once. Either being 0 turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: u32,
    /// The bucket's size: changes allowed at once after a quiet spell.
    pub burst: u32,
}

impl Default for RateLimit {
    /// 20 changes a second with a burst of 100: far above what a tenant following the
    /// product page does (a handful of calls per domain), far below what a script
    /// hammering verify or rotate would.
    fn default() -> Self {
        RateLimit {
            per_second: 20,
            burst: 100,
        }
    }
}

impl RateLimit {
    /// Whether the limit is on.
    pub fn is_on(&self) -> bool {
        self.per_second > 0 && self.burst > 0
    }
}

/// Time limits per kind of request. A request over its limit is abandoned and answered
/// `503` with `Retry-After`; its work is dropped (a store transaction in progress rolls
/// back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Every request without a limit of its own: the admin API, sender authorization,
    /// health, metrics.
    pub request: Duration,
    /// `POST /api/admin/domains/{id}/verify`, which waits for DNS.
    pub verify: Duration,
    /// `POST /api/internal/dkim/sign`, whose body may be 32 MiB.
    pub sign: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            request: Duration::from_secs(30),
            verify: Duration::from_secs(90),
            sign: Duration::from_secs(60),
        }
    }
}

/// The most buckets kept at once. A bucket is a few dozen bytes, so this bounds the
/// limiter at a few megabytes however many tenants call.
pub const MAX_BUCKETS: usize = 100_000;

/// How often idle buckets are swept out.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Whose bucket a change is taken from: a tenant's, or a partner operator's partner.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum BucketKey {
    Tenant { partner: String, tenant: String },
    Partner(String),
}

impl BucketKey {
    fn of(scope: Scope) -> Option<BucketKey> {
        match scope {
            Scope::Tenant {
                partner_id,
                tenant_id,
            } => Some(BucketKey::Tenant {
                partner: partner_id,
                tenant: tenant_id,
            }),
            Scope::Partner { partner_id } => Some(BucketKey::Partner(partner_id)),
            Scope::System => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets by tenant, in bounded memory: a bucket that has refilled completely is
/// the same as no bucket, so idle ones are dropped, and when `max_buckets` are in use
/// the least recently used are dropped (their tenants start over with a full bucket).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    max_buckets: usize,
    state: Mutex<Buckets>,
}

#[derive(Debug)]
struct Buckets {
    map: HashMap<BucketKey, Bucket>,
    swept: Instant,
}

impl RateLimiter {
    /// A limiter, or `None` when the limit is off.
    pub(crate) fn new(limit: RateLimit, max_buckets: usize) -> Option<RateLimiter> {
        limit.is_on().then(|| RateLimiter {
            rate: f64::from(limit.per_second),
            burst: f64::from(limit.burst),
            max_buckets: max_buckets.max(1),
            state: Mutex::new(Buckets {
                map: HashMap::new(),
                swept: Instant::now(),
            }),
        })
    }

    /// Takes one token from `key`'s bucket at `now`, or says in how many whole seconds
    /// (at least 1) one will be there.
    fn take(&self, key: BucketKey, now: Instant) -> Result<(), u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if now.saturating_duration_since(state.swept) >= SWEEP_EVERY {
            self.drop_idle(&mut state.map, now);
            state.swept = now;
        }
        if !state.map.contains_key(&key) && state.map.len() >= self.max_buckets {
            self.make_room(&mut state.map, now);
        }
        let bucket = state.map.entry(key).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            // Whole seconds, rounded up, so that a client that waits this long succeeds.
            Err((wait.ceil() as u64).max(1))
        }
    }

    fn is_idle(&self, bucket: &Bucket, now: Instant) -> bool {
        let refilled =
            bucket.tokens + now.saturating_duration_since(bucket.updated).as_secs_f64() * self.rate;
        refilled >= self.burst
    }

    fn drop_idle(&self, map: &mut HashMap<BucketKey, Bucket>, now: Instant) {
        map.retain(|_, b| !self.is_idle(b, now));
    }

    /// Frees at least a tenth of the buckets: the idle ones, then the least recently
    /// used. Freeing many at once keeps this rare under a flood of new keys.
    fn make_room(&self, map: &mut HashMap<BucketKey, Bucket>, now: Instant) {
        self.drop_idle(map, now);
        let target = self.max_buckets - self.max_buckets.div_ceil(10);
        if map.len() > target {
            let mut by_age: Vec<(Instant, BucketKey)> =
                map.iter().map(|(k, b)| (b.updated, k.clone())).collect();
            by_age.sort_by_key(|(updated, _)| *updated);
            for (_, key) in by_age.into_iter().take(map.len() - target) {
                map.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().unwrap().map.len()
    }
}

/// Route layer of the admin API (inside authentication): every change — `POST`, `PUT`,
/// `PATCH`, `DELETE` — takes a token from its tenant's bucket. Reads are free.
pub(crate) async fn rate_limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let changes = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let key = request
        .extensions()
        .get::<Authenticated>()
        .and_then(|Authenticated(caller)| caller.admin_scope().ok())
        .and_then(BucketKey::of);
    // A caller without a tenant or partner (a service token) is refused by the handler;
    // it has no bucket to take from.
    if let (true, Some(key)) = (changes, key)
        && let Err(seconds) = limiter.take(key, Instant::now())
    {
        return ApiError::too_many_requests(seconds).into_response();
    }
    next.run(request).await
}

/// Route layer of the internal endpoints: at most as many requests at once as the
/// semaphore has permits; the rest are refused at once, before their bodies are read.
pub(crate) async fn concurrency(
    State(slots): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    match slots.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        // A signature takes milliseconds: a second is long enough for a slot to free.
        Err(_) => ApiError::busy(1).into_response(),
    }
}

/// Route layer: the request (body read included) must complete within the limit.
pub(crate) async fn timeout(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%method, %path, limit = ?limit, "request timed out");
            ApiError::timed_out(limit).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32, burst: u32, max_buckets: usize) -> RateLimiter {
        RateLimiter::new(RateLimit { per_second, burst }, max_buckets).expect("on")
    }

    fn tenant(t: &str) -> BucketKey {
        BucketKey::Tenant {
            partner: "p1".into(),
            tenant: t.into(),
        }
    }

    #[test]
    fn a_burst_is_allowed_then_refused_with_the_wait_until_the_next_token() {
        let l = limiter(2, 5, 10);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(l.take(tenant("t1"), t0), Ok(()));
        }
        // Empty: one token comes back in half a second, announced as one whole second.
        assert_eq!(l.take(tenant("t1"), t0), Err(1));
        assert_eq!(
            l.take(tenant("t1"), t0 + Duration::from_millis(500)),
            Ok(())
        );
        assert_eq!(
            l.take(tenant("t1"), t0 + Duration::from_millis(500)),
            Err(1)
        );
        // After a quiet spell the bucket is full again, never fuller.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..5 {
            assert_eq!(l.take(tenant("t1"), later), Ok(()));
        }
        assert!(l.take(tenant("t1"), later).is_err());
    }

    #[test]
    fn retry_after_counts_whole_seconds_for_slow_rates() {
        let l = limiter(1, 1, 10);
        let t0 = Instant::now();
        assert_eq!(l.take(tenant("t1"), t0), Ok(()));
        assert_eq!(l.take(tenant("t1"), t0), Err(1));
        assert_eq!(
            l.take(tenant("t1"), t0 + Duration::from_millis(100)),
            Err(1)
        );
    }

    #[test]
    fn tenants_and_partners_have_buckets_of_their_own() {
        let l = limiter(1, 2, 10);
        let t0 = Instant::now();
        for key in [tenant("t1"), tenant("t2"), BucketKey::Partner("p1".into())] {
            assert_eq!(l.take(key.clone(), t0), Ok(()));
            assert_eq!(l.take(key.clone(), t0), Ok(()));
            assert!(l.take(key, t0).is_err());
        }
        // The same tenant id under another partner is another tenant.
        let other = BucketKey::Tenant {
            partner: "p2".into(),
            tenant: "t1".into(),
        };
        assert_eq!(l.take(other, t0), Ok(()));
    }

    #[test]
    fn memory_stays_bounded_and_idle_buckets_go() {
        let l = limiter(10, 10, 50);
        let t0 = Instant::now();
        for i in 0..1000 {
            let _ = l.take(tenant(&format!("t{i}")), t0);
            assert!(l.len() <= 50, "{} buckets after {i}", l.len());
        }
        // A tenant that spends its bucket is refused, whatever the flood of others did.
        let busy = tenant("busy");
        for _ in 0..10 {
            let _ = l.take(busy.clone(), t0);
        }
        assert!(l.take(busy.clone(), t0).is_err());
        // A minute later every bucket has refilled: the sweep drops them all, and the
        // next caller starts with a full bucket.
        let later = t0 + SWEEP_EVERY;
        assert_eq!(l.take(tenant("new"), later), Ok(()));
        assert_eq!(l.len(), 1);
        assert_eq!(l.take(busy, later), Ok(()));
    }

    #[test]
    fn zero_turns_the_limit_off() {
        assert!(
            RateLimiter::new(
                RateLimit {
                    per_second: 0,
                    burst: 100
                },
                10
            )
            .is_none()
        );
        assert!(
            RateLimiter::new(
                RateLimit {
                    per_second: 20,
                    burst: 0
                },
                10
            )
            .is_none()
        );
        assert!(RateLimit::default().is_on());
    }
}
