"""Transfer Ticket, on either Bank Transfer page, opens the Create Service Ticket page (the source
page's words): its title, heading and breadcrumbs name it so in both languages, and Cancel goes back
to the Bank Transfer page the customer came from."""

import re

import pytest

from tests.bills.conftest import bob  # noqa: F401 (a fixture)
from tests.tickets.test_receiving_account_names import LANGUAGE, TAG, alice, postpaid  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

CREATE_PAGE = {"en": "Create Service Ticket", "zh-hans": "创建服务工单"}
BUTTON = {"en": "Transfer Ticket", "zh-hans": "转账工单"}


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize(
    "who, bank_transfer, pay",
    [
        ("alice", "/billing/pay/bank-transfer/", ("Pay", "付款")),
        ("postpaid", "/billing/repay/bank-transfer/", ("Repay", "还款")),
    ],
)
def test_transfer_ticket_opens_the_create_service_ticket_page_and_cancel_returns(
    client, request, language, who, bank_transfer, pay
):
    """Transfer Ticket on the Bank Transfer page opens Create Service Ticket: its title, heading and
    last breadcrumb say so in each language, and Cancel goes back to the Bank Transfer page the
    customer came from (a postpaid customer's had been the prepaid one's, a 403)."""
    client.force_login(request.getfixturevalue(who))
    html = client.get(bank_transfer, **LANGUAGE[language]).content.decode()
    button = re.search(r'<a class="btn btn-primary" href="([^"]+)" data-testid="transfer-ticket">([^<]+)</a>', html)
    assert button.group(2) == BUTTON[language]
    response = client.get(button.group(1).replace("&amp;", "&"), **LANGUAGE[language])
    assert response.status_code == 200
    page = response.content.decode()
    name = CREATE_PAGE[language]
    assert f"<title>{name}" in page
    assert f"<h1>{name}</h1>" in page
    breadcrumb = TAG.sub("", re.search(r'<div class="breadcrumb">(.*?)</div>', page).group(1))
    bank = {"en": "Bank Transfer", "zh-hans": "银行转账"}[language]
    billing = {"en": "Billing Center", "zh-hans": "计费中心"}[language]
    assert breadcrumb == f"{billing} › {pay[language != 'en']} › {bank} › {name}"
    cancel = re.search(r'href="([^"]+)" data-testid="cancel"', page).group(1)
    assert cancel == bank_transfer
    assert client.get(cancel, **LANGUAGE[language]).status_code == 200
