"""The usage-charge API matches its OpenAPI document (accounts.usage_api.openapi).

The document is valid OpenAPI 3.1 and names every route; it is public, JSON and cacheable; its page shows it
without a script. Then Schemathesis, run against a live server from the document it serves, with a real
service token and real funded accounts, finds no answer the document does not allow: no 5xx, no undocumented
status, content type, header or body, the 405s it promises, the 401 without a token.

The figures (operations, test cases, failures) are printed: `pytest -s tests/accounts/test_openapi_contract.py`.
"""

import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import URLPattern, get_resolver
from djmoney.money import Money
from openapi_spec_validator import validate

from accounts.ledger import post_ledger_entry
from accounts.models import LedgerEntry, UsageCharge
from accounts.usage_api.tokens import create_service_token
from accounts.verification import ledger_mismatches
from tests.conftest import ARTIFACTS
from tests.factories import PrepaidAccountFactory

pytestmark = pytest.mark.django_db

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Every check that holds for this API by design. Not run: positive_data_acceptance (a well-formed charge in a
# currency other than the account's is a 400 the schema cannot know of) and negative_data_rejection (a batch
# answers 200 with an error per bad charge, so one bad charge does not stop the others).
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "unsupported_method",
    "allow_header_conformance",
    "missing_required_header",
    "ignored_auth",
]
SEED = 18
MAX_EXAMPLES = 50


def api_routes() -> set[str]:
    """The /api/v1 routes of the URLconf, as the document spells paths; the catch-all 404 left out."""
    (api,) = [p for p in get_resolver().url_patterns if str(p.pattern) == "api/v1/"]
    routes = {str(p.pattern) for p in api.url_patterns if isinstance(p, URLPattern) and p.name}
    return {"/" + route.replace("<int:account_id>", "{account_id}") for route in routes}


def test_the_document_is_valid_openapi_3_1_and_names_every_route(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    document = response.json()
    validate(document)  # raises on anything OpenAPI 3.1 does not allow
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == api_routes()
    batch = document["components"]["schemas"]["ChargeBatchRequest"]["properties"]["charges"]
    assert batch["maxItems"] == 1000


def test_the_document_is_public_cacheable_and_in_english(client):
    first = client.get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "public" in first["Cache-Control"] and "max-age=300" in first["Cache-Control"]
    assert "Debit one usage charge" in first.content.decode()
    again = client.get("/api/v1/openapi.json", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again.content == b""
    assert client.get("/api/v1/openapi.json", HTTP_IF_NONE_MATCH='"stale"').status_code == 200


def test_the_docs_pages_error_examples_read_as_the_api_answers_in_the_readers_language(client):
    """The API answers a Chinese caller in Chinese; the Chinese docs page's examples had stayed English (found by a
    helper). The JSON document stays English."""
    import html

    page = html.unescape(client.get("/api/v1/docs", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode())
    answer = client.get("/api/v1/charges", HTTP_ACCEPT_LANGUAGE="zh-hans").json()["error"]["message"]
    assert answer in page  # what GET on the charge route answers: its example on the page
    for english in ("Use POST here.", "There is no account 42.", "Send a valid, unrevoked service token"):
        assert english not in page
    document = client.get("/api/v1/openapi.json", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "Use POST here." in document and "There is no account 42." in document


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/docs"])
def test_the_contract_routes_answer_other_methods_with_the_apis_json_405(client, path):
    response = client.post(path, data="{}", content_type="application/json")
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_the_docs_page_shows_every_operation_schema_and_example_without_a_script(client):
    document = client.get("/api/v1/openapi.json").json()
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert f'id="{operation["operationId"]}"' in page, (method, path)
            assert f'<code lang="en">/api/v1{path}</code>' in page
            for status in operation["responses"]:
                assert f"<strong>{status}</strong>" in page, (path, status)
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    assert "ecs-2026-11-26T10" in page and "idempotency_key_reused" in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # no inline script: the strict CSP holds
    assert "/static/css/api-docs.css" in page
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-eval'" not in policy


def funded_account(currency: str, amount: str):
    account = PrepaidAccountFactory(balance=Money(0, currency))
    post_ledger_entry(
        account_id=account.pk, amount=Money(amount, currency), kind="adjustment", source_ref=f"seed:{account.pk}"
    )
    return account


def schemathesis_config(path: Path, account_ids: list[int]) -> Path:
    """Real account ids and their currencies, drawn for most generated charges and balance reads, so the run
    reaches the ledger and not only the 404s; the rest of each request is Schemathesis' own."""
    ids = ", ".join(str(pk) for pk in account_ids)
    path.write_text(
        f"""
[dictionaries.accounts]
values = [{ids}]
[dictionaries.currencies]
values = ["USD", "USD", "JPY"]
[parameters]
"path.account_id" = {{ dictionary = "accounts", probability = 0.8 }}
"body.account" = {{ dictionary = "accounts", probability = 0.8 }}
"body.currency" = {{ dictionary = "currencies", probability = 0.8 }}
"body.charges[*].account" = {{ dictionary = "accounts", probability = 0.8 }}
"body.charges[*].currency" = {{ dictionary = "currencies", probability = 0.8 }}
"""
    )
    return path


@pytest.fixture
def quiet_4xx_log():
    """Schemathesis sends hundreds of bad requests on purpose; their 4xx warnings would bury the figures.
    A 5xx is still logged (and fails the run)."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_answer_outside_the_document(live_server, tmp_path, quiet_4xx_log):
    """Run against the live server, with a real token: every operation (the document's own route included),
    about 50 generated cases each in every phase, a fixed seed."""
    token = create_service_token(service="metering", name="Schemathesis")[1]
    accounts = [funded_account("USD", "500.00"), funded_account("USD", "500.00"), funded_account("JPY", "50000")]
    report = ARTIFACTS / "schemathesis" / "report.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(schemathesis_config(tmp_path / "schemathesis.toml", [a.pk for a in accounts])),
        "--no-color",
        "run",
        f"{live_server.url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--include-path-regex",
        "^/",  # also the route serving the document, which Schemathesis leaves out unless it is selected
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    figures = json.loads(report.read_text())
    operations, cases = figures["operations"], figures["test_cases"]
    print(
        f"\nschemathesis {figures['schemathesis_version']}: {operations['tested']} operations, "
        f"{cases['generated']} test cases generated, {cases['with_failures']} failures, "
        f"{len(figures['errors'])} errors (seed {SEED}, max {MAX_EXAMPLES} examples per operation, "
        f"{figures['running_time']:.1f} s); {UsageCharge.objects.count()} charges posted"
    )
    assert operations["tested"] == operations["total"] == len(api_routes())
    assert cases["with_failures"] == 0 and figures["failures"] == []
    assert figures["errors"] == []
    # The run went past the token and the 404s: charges were posted and balances read.
    accepted = {label: sum(p["accepted"] for p in phases.values()) for label, phases in figures["valid_rates"].items()}
    assert accepted["GET /accounts/{account_id}/balance"] > 0
    assert accepted["POST /charges"] > 0
    assert accepted["POST /charges/batch"] > 0
    assert UsageCharge.objects.exists()
    # ... and the money is still exact: one ledger entry per charge, every balance the sum of its entries.
    assert UsageCharge.objects.count() == LedgerEntry.objects.filter(kind="usage").count()
    assert ledger_mismatches() == []
