"""Certificates in object storage (STORAGE_BACKEND=s3): an S3-compatible server on a loopback
port (moto's server mode, in a process of its own) holds them; nothing lands on this host's disk,
the objects are private, and only our permission-checked view hands them out, block by block."""

import hashlib
import os
import tracemalloc

import boto3
import pytest

from billing_center.settings.storage import s3_options
from tests.factories import UserFactory
from tests.helpers import staff_login
from tests.reliability.processes import MotoServer
from tests.tickets.conftest import SAMPLE_PDF, ticket_form_data
from tickets.models import Certificate, HeldCertificate, TransferTicket

BUCKET = "billing-certificates"
MB = 1024 * 1024
CREDENTIALS = {"aws_access_key_id": "moto-key", "aws_secret_access_key": "moto-secret", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def s3_server():
    with MotoServer() as server:  # not a thread of ours: this process's memory is the view's alone
        yield server.url


@pytest.fixture
def bucket(s3_server, monkeypatch, settings, certificate_dir):
    """The certificates alias switched to S3, as STORAGE_BACKEND=s3 and the S3_* variables switch it."""
    from django.core.files.storage import storages

    client = boto3.client("s3", endpoint_url=s3_server, **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    for name, value in {
        "S3_BUCKET": BUCKET,
        "S3_ENDPOINT_URL": s3_server,
        "S3_REGION": CREDENTIALS["region_name"],
        "S3_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "S3_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        "S3_ADDRESSING_STYLE": "path",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("billing_center.settings.storage.S3_BUCKET", BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "certificates": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": s3_options(prefix="certificates")},
    }
    storages._storages.pop("certificates", None)  # Django caches storage instances by alias
    for model in (Certificate, HeldCertificate):
        monkeypatch.setattr(model._meta.get_field("file"), "storage", storages["certificates"])
    yield client
    storages._storages.pop("certificates", None)
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.mark.django_db
def test_a_certificate_filed_through_the_form_lives_in_the_bucket_and_only_its_owner_and_finance_open_it(
    client, customer, bank, clerk, bucket, certificate_dir
):
    client.force_login(customer)
    response = client.post("/billing/tickets/new/", ticket_form_data(bank))
    assert response.status_code == 303
    ticket = TransferTicket.objects.get()
    certificate = ticket.certificates.get()

    key = f"certificates/{certificate.file.name}"
    assert bucket.get_object(Bucket=BUCKET, Key=key)["Body"].read() == SAMPLE_PDF
    grants = bucket.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]  # the owner only: private
    assert not certificate_dir.exists() or not any(certificate_dir.rglob("*.*"))  # nothing on this disk

    url = f"/billing/tickets/{ticket.number}/certificates/{certificate.pk}/"
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == SAMPLE_PDF
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Cache-Control"] == "private, no-store"

    client.force_login(UserFactory())  # another customer
    assert client.get(url).status_code == 404
    staff_login(client, clerk)  # finance
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == SAMPLE_PDF


@pytest.mark.django_db
def test_an_object_in_the_bucket_is_not_readable_by_its_address(client, customer, bank, bucket, s3_server):
    import requests

    client.force_login(customer)
    client.post("/billing/tickets/new/", ticket_form_data(bank))
    name = TransferTicket.objects.get().certificates.get().file.name
    anonymous = requests.get(f"{s3_server}/{BUCKET}/certificates/{name}", timeout=10)
    assert anonymous.status_code == 403


@pytest.mark.django_db
def test_a_large_certificate_is_sent_as_it_arrives_from_the_bucket_never_held_whole(client, customer, bank, bucket):
    client.force_login(customer)
    client.post("/billing/tickets/new/", ticket_form_data(bank))
    certificate = TransferTicket.objects.get().certificates.get()
    large = SAMPLE_PDF + os.urandom(24 * MB)  # far past any upload limit: the download must not care
    bucket.put_object(Bucket=BUCKET, Key=f"certificates/{certificate.file.name}", Body=large)
    url = f"/billing/tickets/{certificate.ticket.number}/certificates/{certificate.pk}/"

    tracemalloc.start()
    try:
        response = client.get(url)
        received, length = hashlib.sha256(), 0
        for block in response.streaming_content:
            received.update(block)
            length += len(block)
        response.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 200
    assert int(response["Content-Length"]) == length == len(large)
    assert received.digest() == hashlib.sha256(large).digest()
    assert peak < 4 * MB, f"{peak / MB:.1f} MB held at once for a {len(large) / MB:.0f} MB certificate"
