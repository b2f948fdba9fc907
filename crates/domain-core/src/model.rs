//! The domain aggregate and the values around it: ids, owners, scopes, timeline events,
//! list filters and pages.

use time::OffsetDateTime;

use crate::error::InputError;
pub use crate::events::{Actor, DomainEvent, EventKind};
pub use crate::ids::{DomainId, EventId, IdGenerator, ZoneLabel};
use crate::name::{DmarcPolicy, DomainName, ReturnPathLabel, RuaAddress};
use crate::records::dkim::Algorithm;
use crate::rotation::{DkimMode, KeyRing, RotationPeriod};
use crate::verify::Verdicts;

/// Who owns a domain: a tenant under a partner, or the partner itself (a shared domain,
/// usable by every tenant of the partner).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The partner.
    pub partner_id: String,
    /// The tenant; `None` for a shared domain.
    pub tenant_id: Option<String>,
}

impl Owner {
    /// Whether the domain is shared by the partner.
    pub fn is_shared(&self) -> bool {
        self.tenant_id.is_none()
    }
}

/// What a store query may see. Every query of [`crate::ports::DomainRepo`] is scoped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A tenant sees its own domains and its partner's shared domains.
    Tenant {
        /// The tenant's partner.
        partner_id: String,
        /// The tenant.
        tenant_id: String,
    },
    /// A partner operator sees every domain under its partner, shared or not.
    Partner {
        /// The partner.
        partner_id: String,
    },
    /// The system (monitor) sees everything.
    System,
}

impl Scope {
    /// Whether a domain with this owner is visible in the scope. Stores express the same
    /// rule in their queries; the core checks it again on what they return.
    pub fn can_see(&self, owner: &Owner) -> bool {
        match self {
            Scope::Tenant {
                partner_id,
                tenant_id,
            } => {
                owner.partner_id == *partner_id
                    && owner.tenant_id.as_ref().is_none_or(|t| t == tenant_id)
            }
            Scope::Partner { partner_id } => owner.partner_id == *partner_id,
            Scope::System => true,
        }
    }
}

/// A sender domain with everything that belongs to it.
#[derive(Debug, Clone)]
pub struct Domain {
    /// `dom_<ULID>`.
    pub id: DomainId,
    /// The domain name.
    pub name: DomainName,
    /// The owner.
    pub owner: Owner,
    /// The DMARC policy we ask the domain to publish.
    pub dmarc_policy: DmarcPolicy,
    /// Where DMARC aggregate reports go.
    pub dmarc_rua: Option<RuaAddress>,
    /// Deactivated domains are rejected at queue time.
    pub is_active: bool,
    /// Every check the verified rule requires passed (and, under the monitor, has not
    /// failed for longer than the grace period since).
    pub verified: bool,
    /// The DKIM keys and their rotation state.
    pub keys: KeyRing,
    /// Its label in our DKIM zone (CNAME mode).
    pub zone_label: ZoneLabel,
    /// The last verdict of each check.
    pub checks: Verdicts,
    /// Rotate DKIM automatically after this many days; `None`: never.
    pub dkim_rotation_days: Option<RotationPeriod>,
    /// When the domain was created.
    pub created_at: OffsetDateTime,
    /// When the domain last changed.
    pub updated_at: OffsetDateTime,
    /// When all three checks last passed.
    pub last_verified_at: Option<OffsetDateTime>,
    /// When the monitor first saw a verified domain failing; cleared when it recovers.
    pub failing_since: Option<OffsetDateTime>,
    /// When the monitor should check the domain next.
    pub next_check_at: OffsetDateTime,
    /// Optimistic-concurrency version; the store bumps it on every update.
    pub version: i64,
    /// The return-path (MAIL FROM) host, if the tenant set one.
    pub return_path: Option<ReturnPath>,
}

impl Domain {
    /// Whether the domain is shared by its partner.
    pub fn is_shared(&self) -> bool {
        self.owner.is_shared()
    }

    /// How the domain publishes its DKIM keys (its newest generation's mode).
    pub fn dkim_mode(&self) -> DkimMode {
        self.keys.mode()
    }

    /// The algorithms the domain signs with (its newest generation's), RSA first.
    pub fn dkim_algorithms(&self) -> Vec<Algorithm> {
        self.keys.algorithms()
    }
}

/// A domain's own return-path (MAIL FROM) host and whether it is verified: bounces come
/// back through our bounce MX there, and SPF evaluated on it aligns with the domain
/// (docs/sending.md, "The return path").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnPath {
    /// The label the tenant chose.
    pub label: ReturnPathLabel,
    /// `<label>.<domain>`.
    pub host: DomainName,
    /// When it was set: a new return path is checked often at first.
    pub set_at: OffsetDateTime,
    /// The return-path check passed (and, under the monitor, has not failed for longer
    /// than the grace period since). Mail uses the host as MAIL FROM only while it is.
    pub verified: bool,
    /// When the monitor first saw a verified return path failing; cleared when it
    /// recovers.
    pub failing_since: Option<OffsetDateTime>,
}

impl ReturnPath {
    /// A return path just set on `domain`: not verified yet.
    pub fn new(
        label: ReturnPathLabel,
        domain: &DomainName,
        now: OffsetDateTime,
    ) -> Result<Self, InputError> {
        Ok(ReturnPath {
            host: label.host(domain)?,
            label,
            set_at: now,
            verified: false,
            failing_since: None,
        })
    }
}

/// Filters of the domain list (docs/api.md, "Domains").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListFilter {
    /// Only verified (or unverified) domains.
    pub verified: Option<bool>,
    /// Only active (or inactive) domains.
    pub is_active: Option<bool>,
    /// Only shared (or owned) domains.
    pub is_shared: Option<bool>,
}

/// A page request: at most `limit` items after `after` (exclusive) in the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1–200.
    pub limit: u32,
    /// The id of the last item of the previous page.
    pub after: Option<String>,
}

impl PageRequest {
    /// The largest page.
    pub const MAX_LIMIT: u32 = 200;
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: u32 = 50;

    /// Checks the limit (1–200, default 50).
    pub fn new(limit: Option<u32>, after: Option<String>) -> Result<Self, InputError> {
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(InputError::new(format!(
                "`limit` must be between 1 and {}",
                Self::MAX_LIMIT
            )));
        }
        Ok(PageRequest { limit, after })
    }

    /// The page size: `limit` kept within 1–[`MAX_LIMIT`](Self::MAX_LIMIT), because the
    /// fields can be set without the checks of [`new`](Self::new).
    pub fn page_size(&self) -> u32 {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }

    /// How many items a store reads for this page: one more than the page size, so that
    /// [`Page::from_overfetch`] can tell whether another page follows.
    pub fn fetch_limit(&self) -> u32 {
        self.page_size() + 1
    }
}

/// One page of results and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The id of the last item when more follow.
    pub next_after: Option<String>,
}

impl<T> Page<T> {
    /// The page from up to [`PageRequest::fetch_limit`] items read in the list's order:
    /// the extra item, when it was there, is cut off and the cursor set to the id of the
    /// page's last item. So a cursor is given exactly when more items follow.
    pub fn from_overfetch(mut items: Vec<T>, page: &PageRequest, id: impl Fn(&T) -> &str) -> Self {
        let size = page.page_size() as usize;
        let more = items.len() > size;
        items.truncate(size);
        let next_after = if more {
            items.last().map(|item| id(item).to_owned())
        } else {
            None
        };
        Page { items, next_after }
    }
}

#[cfg(test)]
mod page_tests {
    use super::{Page, PageRequest};

    fn page(limit: u32, fetched: usize) -> Page<String> {
        let request = PageRequest { limit, after: None };
        assert_eq!(
            request.fetch_limit(),
            limit.clamp(1, PageRequest::MAX_LIMIT) + 1
        );
        let items = (0..fetched).map(|i| format!("id{i:03}")).collect();
        Page::from_overfetch(items, &request, |s| s.as_str())
    }

    #[test]
    fn a_cursor_is_given_exactly_when_more_items_follow() {
        let more = page(3, 4);
        assert_eq!(more.items, ["id000", "id001", "id002"]);
        assert_eq!(more.next_after.as_deref(), Some("id002"));

        let full_last = page(3, 3);
        assert_eq!(full_last.items.len(), 3);
        assert_eq!(full_last.next_after, None, "a full last page has no cursor");

        let short = page(3, 1);
        assert_eq!((short.items.len(), short.next_after), (1, None));
        assert_eq!(page(3, 0).items.len(), 0);
    }

    #[test]
    fn a_limit_set_without_the_checks_is_kept_in_range() {
        assert_eq!(page(0, 5).items.len(), 1);
        assert_eq!(
            page(10_000, 300).items.len(),
            PageRequest::MAX_LIMIT as usize
        );
        assert!(page(10_000, 300).next_after.is_some());
    }
}
