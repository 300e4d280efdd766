"""A ticket form with a wrong field keeps the certificates that passed their checks, for the
same customer only, for a while; the corrected form submits them without picking them again."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import UserFactory
from tests.tickets.conftest import SAMPLE_PDF, png_bytes, ticket_form_data, upload
from tickets.held_certificates import HOLD_FOR, purge_held_certificates
from tickets.models import Certificate, HeldCertificate, TransferTicket

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client, customer):
    client.force_login(customer)
    return customer


def tokens(response) -> list[str]:
    return [str(h.token) for h in response.context["form"].held]


def corrected(bank, held: list[str], **overrides) -> dict:
    return ticket_form_data(bank, certificates=[], held=held, **overrides)


def test_a_wrong_field_keeps_the_files_and_the_corrected_form_submits_them(client, alice, bank, certificate_dir):
    files = [upload("statement.pdf"), upload("photo.png", png_bytes())]
    first = client.post("/billing/tickets/new/", ticket_form_data(bank, amount="12,50", certificates=files))
    assert first.status_code == 400
    page = first.content.decode()
    assert 'data-testid="held-certificates"' in page and "statement.pdf" in page and "photo.png" in page
    assert "you do not need to attach them again" in page
    held = tokens(first)
    assert len(held) == 2 and HeldCertificate.objects.filter(user=alice).count() == 2

    second = client.post("/billing/tickets/new/", corrected(bank, held, amount="12.50"))
    assert second.status_code == 303
    ticket = TransferTicket.objects.get()
    stored = list(ticket.certificates.order_by("id"))
    assert [c.original_name for c in stored] == ["statement.pdf", "photo.png"]
    assert stored[0].sha256 == hashlib.sha256(SAMPLE_PDF).hexdigest()
    with stored[0].file.open("rb") as stream:
        assert stream.read() == SAMPLE_PDF
    assert not HeldCertificate.objects.exists()
    assert not list((certificate_dir / "held").glob("*"))  # moved into the ticket, nothing left behind


def test_unticking_a_held_file_leaves_it_out_and_new_files_add_to_the_held_ones(client, alice, bank):
    first = client.post(
        "/billing/tickets/new/",
        ticket_form_data(bank, amount="", certificates=[upload("a.pdf"), upload("b.png", png_bytes())]),
    )
    a, _b = tokens(first)
    response = client.post(
        "/billing/tickets/new/", ticket_form_data(bank, certificates=[upload("c.png", png_bytes((1, 2, 3)))], held=[a])
    )
    assert response.status_code == 303
    assert sorted(Certificate.objects.values_list("original_name", flat=True)) == ["a.pdf", "c.png"]


def test_held_files_count_toward_the_limit_of_five(client, alice, bank):
    files = [upload(f"c{i}.png", png_bytes((i, i, i))) for i in range(3)]
    held = tokens(client.post("/billing/tickets/new/", ticket_form_data(bank, amount="", certificates=files)))
    more = [upload(f"d{i}.png", png_bytes((9, i, i))) for i in range(3)]
    response = client.post("/billing/tickets/new/", ticket_form_data(bank, certificates=more, held=held))
    assert response.status_code == 400
    assert "counting those already attached" in " ".join(response.context["form"].errors["certificates"])
    assert not TransferTicket.objects.exists()


def test_another_customers_held_file_cannot_be_attached(client, bank, customer):
    bob = UserFactory(username="bob")
    client.force_login(bob)
    held = tokens(client.post("/billing/tickets/new/", ticket_form_data(bank, amount="")))
    client.force_login(customer)
    response = client.post("/billing/tickets/new/", corrected(bank, held))
    assert response.status_code == 400
    assert "Attach the bank transfer certificate" in " ".join(response.context["form"].errors["certificates"])
    assert "certificate.pdf" not in response.content.decode()
    assert not TransferTicket.objects.exists()


@pytest.mark.parametrize("token", ["not-a-uuid", "", "00000000-0000-0000-0000-000000000000", "１２３"])
def test_a_made_up_token_is_ignored_not_an_error(client, alice, bank, token):
    response = client.post("/billing/tickets/new/", corrected(bank, [token]))
    assert response.status_code == 400 and "certificates" in response.context["form"].errors


def test_held_files_expire_and_the_purge_removes_them(client, alice, bank, certificate_dir):
    held = tokens(client.post("/billing/tickets/new/", ticket_form_data(bank, amount="")))
    HeldCertificate.objects.update(created_at=timezone.now() - HOLD_FOR - timedelta(minutes=1))
    response = client.post("/billing/tickets/new/", corrected(bank, held))
    assert response.status_code == 400  # expired: the form asks for the file again
    assert purge_held_certificates() == 1
    assert not HeldCertificate.objects.exists() and not list((certificate_dir / "held").glob("*"))
    assert purge_held_certificates() == 0


def test_nothing_is_kept_when_the_files_themselves_are_refused(client, alice, bank):
    response = client.post(
        "/billing/tickets/new/", ticket_form_data(bank, amount="", certificates=[upload("x.pdf", b"<html>")])
    )
    assert response.status_code == 400 and not HeldCertificate.objects.exists()


def test_a_refused_file_is_named_and_the_good_one_beside_it_is_kept(client, alice, bank):
    """Attaching the real certificate with a file that is not one: only the bad file is asked for again (the good
    one had been dropped with it, and the customer had to pick it a second time)."""
    files = [upload("cert.png", png_bytes()), upload("evil.png", b"<script>alert(1)</script>")]
    first = client.post("/billing/tickets/new/", ticket_form_data(bank, certificates=files))
    assert first.status_code == 400
    page = first.content.decode()
    assert "evil.png" in page and 'data-testid="held-certificates"' in page
    assert [h.original_name for h in first.context["form"].held] == ["cert.png"]
    second = client.post("/billing/tickets/new/", corrected(bank, tokens(first)))
    assert second.status_code == 303
    assert [c.original_name for c in TransferTicket.objects.get().certificates.all()] == ["cert.png"]
