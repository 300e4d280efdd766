"""Finance's audit trail in admin (billing_center.admin_log) against what it is given: what a customer or a clerk
typed, shown escaped on Recent actions and History; rows written before, by something else, or damaged, read by
those pages without a 500 (an amount that is no number, a currency no longer known had been one; found by a helper)."""

import json

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from djmoney.money import Money

from tests.factories import UserFactory
from tests.helpers import staff_login
from tests.tickets.conftest import make_ticket, pdf_bytes, upload
from tests.tickets.test_admin_log import TICKETS, act
from tickets.models import TransferTicket

pytestmark = pytest.mark.django_db
PAYLOAD = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def test_a_reason_with_markup_is_escaped_on_recent_actions_and_history(client, clerk, bank):
    evil = UserFactory(username="mallory", account__name=PAYLOAD, email="m@example.com")
    ticket = make_ticket(evil, bank, bank_reference="FT-X1", files=[upload(content=pdf_bytes("x1"))])
    staff_login(client, clerk)
    act(client, "request_information", ticket, reason=PAYLOAD)
    act(client, "reject", ticket, reason=PAYLOAD)
    assert LogEntry.objects.count() == 2
    for url in ("/admin/", f"{TICKETS}{ticket.pk}/history/"):
        page = client.get(url)
        assert page.status_code == 200
        body = page.content.decode()
        assert "<script>alert(2)" not in body and "<img src=x onerror" not in body, url


def logged(message: str, obj) -> LogEntry:
    return LogEntry.objects.create(
        user_id=obj["user"].pk,
        content_type=ContentType.objects.get_for_model(TransferTicket),
        object_id=str(obj["ticket"].pk),
        object_repr=obj["ticket"].number,
        action_flag=CHANGE,
        change_message=message,
    )


SAID = "Confirmed and credited %(amount)s"
BROKEN_MESSAGES = {
    "plain text of an older row": "Changed status.",
    "malformed JSON": '[{"changed": ',
    "a JSON object, not a list": '{"said": {"text": "Marked as under review", "args": {}}}',
    "said that is text": '[{"said": "Confirmed"}]',
    "said with args as a list": json.dumps([{"said": {"text": SAID, "args": ["x"]}}]),
    "said with an amount that is not a number": json.dumps(
        [{"said": {"text": SAID, "args": {"amount": {"amount": "1,000.00", "currency": "USD"}}}}]
    ),
    "said with a currency no longer known": json.dumps(
        [{"said": {"text": SAID, "args": {"amount": {"amount": "10.00", "currency": "XYZ"}}}}]
    ),
}


@pytest.mark.parametrize("what", list(BROKEN_MESSAGES))
def test_a_broken_or_older_change_message_does_not_break_the_admin_home_or_history(client, clerk, customer, bank, what):
    ticket = make_ticket(customer, bank, amount=Money("250.00", "USD"))
    logged(BROKEN_MESSAGES[what], {"user": clerk, "ticket": ticket})
    staff_login(client, clerk)
    assert client.get("/admin/").status_code == 200
    assert client.get(f"{TICKETS}{ticket.pk}/history/").status_code == 200
