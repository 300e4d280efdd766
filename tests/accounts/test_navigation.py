"""The main navigation marks the section a page belongs to (found by a helper: five links never did)."""

import re

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
CURRENT = re.compile(r'<a href="([^"]+)" class="active" aria-current="page">')


@pytest.mark.parametrize(
    "page, section",
    [
        ("/billing/", "/billing/"),
        ("/billing/pay/", "/billing/pay/"),
        ("/billing/pay/bank-transfer/", "/billing/pay/"),
        ("/billing/topups/", "/billing/topups/"),
        ("/billing/tickets/", "/billing/tickets/"),
        ("/billing/tickets/new/", "/billing/tickets/"),
        ("/billing/invoices/", "/billing/invoices/"),
        ("/billing/statement/", "/billing/statement/"),
        ("/billing/developers/webhooks/", "/billing/developers/webhooks/"),
    ],
)
def test_each_page_marks_its_section_and_only_that_one_as_current(client, page, section):
    client.force_login(UserFactory())
    response = client.get(page)
    assert response.status_code == 200, page
    assert CURRENT.findall(response.content.decode()) == [section]


def test_an_enterprise_member_is_not_offered_pages_that_only_say_it_cannot_use_them(client):
    """A member pays through its master: Pay and Top-up records had each only repeated the Overview's refusal.
    The Overview's latest balance changes lead to the full statement (they had led to Top-up records)."""
    from tests.factories import EnterpriseMemberAccountFactory

    client.force_login(UserFactory(account=EnterpriseMemberAccountFactory()))
    page = client.get("/billing/").content.decode()
    assert 'href="/billing/pay/"' not in page and 'href="/billing/topups/"' not in page
    assert '<a class="small" href="/billing/statement/">Full statement →</a>' in page
