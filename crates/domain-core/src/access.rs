//! Authorization: who may do what (docs/api.md, "Who may do what"). The HTTP layer only
//! authenticates — it verifies a token and extracts the caller from it;
//! every decision is made here.

use crate::error::{Error, InputError};
use crate::macros::named_enum;
use crate::model::{Actor, Owner, Scope};

named_enum! {
    /// The role claim of a token.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Role {
        /// Reads its tenant's domains and its partner's shared ones.
        TenantViewer => "tenant_viewer",
        /// Also creates, changes and deletes its tenant's domains.
        TenantAdmin => "tenant_admin",
        /// Reads every domain under its partner; creates, changes and deletes shared ones.
        PartnerOperator => "partner_operator",
        /// The sending pipeline: the internal endpoints only.
        Service => "service",
    }
}

impl Role {
    /// Parses the `role` claim.
    pub fn parse(s: &str) -> Result<Self, InputError> {
        Self::from_name(s).ok_or_else(|| {
            InputError::new(format!(
                "`{s}` is not a role; use tenant_viewer, tenant_admin, partner_operator or service"
            ))
        })
    }
}

/// An authenticated caller. Built only through [`Caller::new`], which checks that the
/// claims the role needs are present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    sub: String,
    role: Role,
    tenant_id: Option<String>,
    partner_id: Option<String>,
}

impl Caller {
    /// Checks the claims of a verified token: tenant roles need `tenant_id` and
    /// `partner_id`, a partner operator needs `partner_id`.
    pub fn new(
        sub: impl Into<String>,
        role: Role,
        tenant_id: Option<String>,
        partner_id: Option<String>,
    ) -> Result<Self, InputError> {
        let sub = sub.into();
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        if sub.trim().is_empty() {
            return Err(InputError::new("the token has no `sub` claim"));
        }
        match role {
            Role::TenantViewer | Role::TenantAdmin if !present(&tenant_id) => {
                return Err(InputError::new(format!(
                    "a {role} token needs a `tenant_id` claim"
                )));
            }
            Role::TenantViewer | Role::TenantAdmin | Role::PartnerOperator
                if !present(&partner_id) =>
            {
                return Err(InputError::new(format!(
                    "a {role} token needs a `partner_id` claim"
                )));
            }
            _ => {}
        }
        Ok(Caller {
            sub,
            role,
            tenant_id,
            partner_id,
        })
    }

    /// The acting user, for the timeline.
    pub fn actor(&self) -> Actor {
        Actor::User(self.sub.clone())
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// What this caller may read in the admin API.
    pub fn admin_scope(&self) -> Result<Scope, Error> {
        match (self.role, &self.partner_id, &self.tenant_id) {
            (Role::TenantViewer | Role::TenantAdmin, Some(p), Some(t)) => Ok(Scope::Tenant {
                partner_id: p.clone(),
                tenant_id: t.clone(),
            }),
            (Role::PartnerOperator, Some(p), _) => Ok(Scope::Partner {
                partner_id: p.clone(),
            }),
            (Role::Service, _, _) => Err(Error::Forbidden(
                "service tokens may call the internal endpoints only".to_owned(),
            )),
            // `Caller::new` guarantees the claims above; this arm keeps the match total.
            _ => Err(Error::Unauthenticated(
                "missing tenant or partner claim".to_owned(),
            )),
        }
    }

    /// The owner of a domain this caller creates, or why it may not.
    pub fn owner_for_new(&self, is_shared: bool) -> Result<Owner, Error> {
        match (self.role, is_shared) {
            (Role::TenantAdmin, false) => Ok(Owner {
                partner_id: self.partner_id.clone().unwrap_or_default(),
                tenant_id: self.tenant_id.clone(),
            }),
            (Role::PartnerOperator, true) => Ok(Owner {
                partner_id: self.partner_id.clone().unwrap_or_default(),
                tenant_id: None,
            }),
            (Role::TenantAdmin, true) => Err(Error::Forbidden(
                "only partner operators create shared domains".to_owned(),
            )),
            (Role::PartnerOperator, false) => Err(Error::Forbidden(
                "partner operators create shared domains only; set `is_shared: true`".to_owned(),
            )),
            (Role::TenantViewer, _) => Err(Error::Forbidden(
                "tenant viewers cannot create domains".to_owned(),
            )),
            (Role::Service, _) => Err(Error::Forbidden(
                "service tokens may call the internal endpoints only".to_owned(),
            )),
        }
    }

    /// Whether this caller may change a domain it can see: tenant admins their tenant's
    /// own domains, partner operators their partner's shared ones. Shared domains are
    /// read-only to tenants.
    pub fn check_may_change(&self, owner: &Owner) -> Result<(), Error> {
        match self.role {
            Role::TenantAdmin if owner.is_shared() => Err(Error::Forbidden(
                "shared domains belong to the partner and are read-only to tenants".to_owned(),
            )),
            Role::TenantAdmin
                if owner.tenant_id == self.tenant_id && Some(&owner.partner_id) == self.partner_id.as_ref() =>
            {
                Ok(())
            }
            Role::PartnerOperator
                if owner.is_shared() && Some(&owner.partner_id) == self.partner_id.as_ref() =>
            {
                Ok(())
            }
            Role::PartnerOperator => Err(Error::Forbidden(
                "partner operators change shared domains only; tenant domains belong to their tenant".to_owned(),
            )),
            Role::TenantViewer => Err(Error::Forbidden(
                "tenant viewers have read-only access".to_owned(),
            )),
            _ => Err(Error::Forbidden("not allowed".to_owned())),
        }
    }

    /// The owner of the webhook endpoints this caller manages: a tenant admin its
    /// tenant's, a partner operator its partner's (which receive the events of the
    /// partner's shared domains). Viewers and service tokens manage none.
    pub fn webhook_owner(&self) -> Result<Owner, Error> {
        match (self.role, &self.partner_id) {
            (Role::TenantAdmin, Some(p)) => Ok(Owner {
                partner_id: p.clone(),
                tenant_id: self.tenant_id.clone(),
            }),
            (Role::PartnerOperator, Some(p)) => Ok(Owner {
                partner_id: p.clone(),
                tenant_id: None,
            }),
            (Role::TenantViewer, _) => Err(Error::Forbidden(
                "tenant viewers cannot manage webhooks".to_owned(),
            )),
            (Role::Service, _) => Err(Error::Forbidden(
                "service tokens may call the internal endpoints only".to_owned(),
            )),
            _ => Err(Error::Unauthenticated(
                "missing tenant or partner claim".to_owned(),
            )),
        }
    }

    /// The internal endpoints take only service tokens.
    pub fn check_service(&self) -> Result<(), Error> {
        if self.role == Role::Service {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "the internal endpoints take only a service token".to_owned(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role, tenant: Option<&str>, partner: Option<&str>) -> Caller {
        Caller::new("u1", role, tenant.map(Into::into), partner.map(Into::into)).unwrap()
    }

    fn tenant_owned(t: &str, p: &str) -> Owner {
        Owner {
            partner_id: p.into(),
            tenant_id: Some(t.into()),
        }
    }

    fn shared(p: &str) -> Owner {
        Owner {
            partner_id: p.into(),
            tenant_id: None,
        }
    }

    #[test]
    fn claims_required_by_role() {
        assert!(Caller::new("u", Role::TenantAdmin, None, Some("p".into())).is_err());
        assert!(Caller::new("u", Role::TenantAdmin, Some("t".into()), None).is_err());
        assert!(Caller::new("u", Role::PartnerOperator, None, None).is_err());
        assert!(Caller::new("", Role::Service, None, None).is_err());
        assert!(Caller::new("svc", Role::Service, None, None).is_ok());
        assert!(Caller::new("u", Role::PartnerOperator, None, Some("p".into())).is_ok());
        assert!(Role::parse("admin").is_err());
        assert_eq!(Role::parse("tenant_admin").unwrap(), Role::TenantAdmin);
    }

    #[test]
    fn the_contract_table_of_who_may_do_what() {
        let viewer = caller(Role::TenantViewer, Some("t1"), Some("p1"));
        let admin = caller(Role::TenantAdmin, Some("t1"), Some("p1"));
        let operator = caller(Role::PartnerOperator, None, Some("p1"));
        let service = caller(Role::Service, None, None);

        // Reading: scopes.
        let own = tenant_owned("t1", "p1");
        let other_tenant = tenant_owned("t2", "p1");
        let other_partner = tenant_owned("t1", "p2");
        for c in [&viewer, &admin] {
            let scope = c.admin_scope().unwrap();
            assert!(scope.can_see(&own));
            assert!(scope.can_see(&shared("p1")));
            assert!(!scope.can_see(&other_tenant));
            assert!(!scope.can_see(&other_partner));
            assert!(!scope.can_see(&shared("p2")));
        }
        let scope = operator.admin_scope().unwrap();
        assert!(
            scope.can_see(&own) && scope.can_see(&other_tenant) && scope.can_see(&shared("p1"))
        );
        assert!(!scope.can_see(&other_partner) && !scope.can_see(&shared("p2")));
        assert!(matches!(service.admin_scope(), Err(Error::Forbidden(_))));

        // Creating.
        assert!(matches!(
            viewer.owner_for_new(false),
            Err(Error::Forbidden(_))
        ));
        assert_eq!(admin.owner_for_new(false).unwrap(), own);
        assert!(matches!(
            admin.owner_for_new(true),
            Err(Error::Forbidden(_))
        ));
        assert_eq!(operator.owner_for_new(true).unwrap(), shared("p1"));
        assert!(matches!(
            operator.owner_for_new(false),
            Err(Error::Forbidden(_))
        ));

        // Changing.
        assert!(viewer.check_may_change(&own).is_err());
        assert!(admin.check_may_change(&own).is_ok());
        assert!(admin.check_may_change(&shared("p1")).is_err());
        assert!(operator.check_may_change(&shared("p1")).is_ok());
        assert!(operator.check_may_change(&own).is_err());

        // Internal endpoints.
        assert!(service.check_service().is_ok());
        for c in [&viewer, &admin, &operator] {
            assert!(matches!(c.check_service(), Err(Error::Forbidden(_))));
        }
    }
}
