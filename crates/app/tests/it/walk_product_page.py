"""The product page's walk through sender domains, with a client generated from the
OpenAPI document (openapi-python-client), never raw HTTP.

Run by crates/app/tests/it/openapi.rs with the generated package `scaisend_client` on
sys.path, SCAISEND_BASE (the server) and SCAISEND_JWT (a tenant_admin token) set. The
loopback DNS server it uses has nothing published, so verification answers
verified: false, naming each missing record. Any wrong answer fails an assert.
"""

import os

from scaisend_client import AuthenticatedClient
from scaisend_client.api.domains import (
    create_domain,
    delete_domain,
    dns_records,
    get_domain,
    list_domains,
    update_domain,
)
from scaisend_client.api.rotation import rotate_dkim
from scaisend_client.api.verification import verify_domain
from scaisend_client.models import (
    CheckKind,
    CheckStatus,
    CreateDomainRequest,
    DmarcPolicy,
    DnsRecordsResponse,
    DomainList,
    DomainResponse,
    KeyState,
    Problem,
    RecordAction,
    RotateResponse,
    UpdateDomainRequest,
    VerifyResponse,
)

client = AuthenticatedClient(
    base_url=os.environ["SCAISEND_BASE"],
    token=os.environ["SCAISEND_JWT"],
    raise_on_unexpected_status=True,
)


def expect(response, status, model):
    """The parsed body of a response with this status and model."""
    assert response.status_code == status, (response.status_code, response.content)
    assert isinstance(response.parsed, model), response.parsed
    return response.parsed


# Adding a domain, with the product page's fields.
created = expect(
    create_domain.sync_detailed(
        client=client,
        body=CreateDomainRequest(
            domain="mail.example.com",
            dmarc_policy=DmarcPolicy.QUARANTINE,
            dmarc_rua_email="dmarc-reports@example.com",
        ),
    ),
    201,
    DomainResponse,
)
assert created.id.startswith("dom_"), created.id
assert created.domain == "mail.example.com"
assert created.verified is False
assert created.dkim_selector == "scaisend"
assert created.dmarc_policy == DmarcPolicy.QUARANTINE
assert created.dmarc_rua_email == "dmarc-reports@example.com"
assert created.is_shared is False and created.is_active is True
rows = {r.purpose: r for r in created.dns_records}
assert set(rows) == {CheckKind.DKIM, CheckKind.SPF, CheckKind.DMARC}, rows
assert all(r.type_ == "TXT" and r.action == RecordAction.PUBLISH for r in rows.values())
assert rows[CheckKind.DKIM].host == "scaisend._domainkey.mail.example.com"
assert rows[CheckKind.DKIM].value.startswith("v=DKIM1; k=rsa; p=MII")
assert rows[CheckKind.DKIM].key_state == KeyState.ACTIVE
assert rows[CheckKind.SPF].host == "mail.example.com"
assert rows[CheckKind.SPF].value == "v=spf1 include:scaisend.scailabs.ai ~all"
assert rows[CheckKind.DMARC].host == "_dmarc.mail.example.com"
assert rows[CheckKind.DMARC].value == (
    "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@example.com"
)
assert created.created_at.tzinfo is not None, "date-time fields parse as datetimes"

# Reading it, and getting the records any time.
read = expect(get_domain.sync_detailed(created.id, client=client), 200, DomainResponse)
assert read.to_dict() == created.to_dict()
records = expect(
    dns_records.sync_detailed(created.id, client=client), 200, DnsRecordsResponse
)
assert records.domain == "mail.example.com"
assert [r.to_dict() for r in records.dns_records] == [
    r.to_dict() for r in created.dns_records
]

# Verifying before anything is published: not verified, and each record named.
report = expect(verify_domain.sync_detailed(created.id, client=client), 200, VerifyResponse)
assert report.domain == "mail.example.com"
assert report.verified is False
assert not (report.dkim_verified or report.spf_verified or report.txt_verified)
assert len(report.errors) == 3, report.errors
assert any("scaisend._domainkey.mail.example.com" in e for e in report.errors), report.errors
assert [c.record for c in report.checks] == [CheckKind.DKIM, CheckKind.SPF, CheckKind.DMARC]
assert all(c.status == CheckStatus.MISSING for c in report.checks), report.checks

# Rotating DKIM: a new pending selector whose record is to be published.
rotation = expect(rotate_dkim.sync_detailed(created.id, client=client), 202, RotateResponse)
assert rotation.new_selector == "scaisend2"
assert rotation.active_selector == "scaisend"
assert rotation.dns_record.host == "scaisend2._domainkey.mail.example.com"
assert rotation.dns_record.key_state == KeyState.PENDING
again = rotate_dkim.sync_detailed(created.id, client=client)
assert expect(again, 409, Problem).status == 409, "a second rotation waits for the first"

# Deactivating it with PATCH.
deactivated = expect(
    update_domain.sync_detailed(
        created.id, client=client, body=UpdateDomainRequest(is_active=False)
    ),
    200,
    DomainResponse,
)
assert deactivated.is_active is False
assert deactivated.dmarc_policy == DmarcPolicy.QUARANTINE, "other fields are kept"

# Listing: the filters are booleans, the page size an integer.
inactive = expect(
    list_domains.sync_detailed(client=client, is_active=False, limit=10), 200, DomainList
)
assert [d.id for d in inactive.data] == [created.id], inactive.data
assert inactive.next_cursor is None
active = expect(list_domains.sync_detailed(client=client, is_active=True), 200, DomainList)
assert active.data == []
too_big = expect(list_domains.sync_detailed(client=client, limit=201), 422, Problem)
assert too_big.errors[0].field == "limit", too_big.errors

# Deleting it: gone, and a problem says so.
deleted = delete_domain.sync_detailed(created.id, client=client)
assert deleted.status_code == 204, deleted.content
gone = expect(get_domain.sync_detailed(created.id, client=client), 404, Problem)
assert gone.status == 404 and gone.title == "Not found", gone

print("walked the product page")
