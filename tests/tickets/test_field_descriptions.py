"""Screen readers read a field's help text and its errors through aria-describedby: every id a field
points at is on the page, on the ticket form and the reply form, with and without errors (issue 14:
the ids were once never rendered, so nothing was read)."""

import re

import pytest

from tests.tickets.conftest import make_ticket, ticket_form_data, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client, customer):
    client.force_login(customer)
    return customer


def descriptions(html: str) -> dict[str, list[str]]:
    """Each form control's id → the ids its aria-describedby names (controls that name none left out)."""
    found = {}
    for tag in re.finditer(r"<(?:input|select|textarea)\b[^>]*>", html, re.S):
        control_id = re.search(r'\bid="([^"]+)"', tag.group(0))
        named = re.search(r'\baria-describedby="([^"]+)"', tag.group(0))
        if control_id and named:
            found[control_id.group(1)] = named.group(1).split()
    return found


def assert_every_description_is_on_the_page(html: str) -> dict[str, list[str]]:
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    named = descriptions(html)
    missing = {control: [i for i in refs if i not in ids] for control, refs in named.items()}
    assert not {control: refs for control, refs in missing.items() if refs}, f"ids named but not on the page: {missing}"
    return named


def test_the_ticket_forms_help_texts_are_read_with_their_fields(client, alice, bank):
    named = assert_every_description_is_on_the_page(client.get("/billing/tickets/new/").content.decode())
    assert "id_bank_reference_helptext" in named["id_bank_reference"]
    assert "id_certificates_helptext" in named["id_certificates"]


def test_the_ticket_forms_errors_are_read_with_their_fields(client, alice, bank):
    response = client.post("/billing/tickets/new/", ticket_form_data(bank, amount="320,00", bank_reference=""))
    assert response.status_code == 400
    named = assert_every_description_is_on_the_page(response.content.decode())
    assert "id_amount_error" in named["id_amount"]
    assert "id_bank_reference_error" in named["id_bank_reference"]


def test_the_reply_forms_help_and_errors_are_read_with_their_fields(client, alice, bank):
    ticket = make_ticket(alice, bank)
    page = client.get(f"/billing/tickets/{ticket.number}/").content.decode()
    assert "id_certificates_helptext" in assert_every_description_is_on_the_page(page)["id_certificates"]
    refused = client.post(
        f"/billing/tickets/{ticket.number}/",
        {"body": "the statement page", "certificates": [upload("notes.pdf", b"not a pdf at all")]},
    )
    assert refused.status_code == 400
    assert (
        "id_certificates_error" in assert_every_description_is_on_the_page(refused.content.decode())["id_certificates"]
    )
