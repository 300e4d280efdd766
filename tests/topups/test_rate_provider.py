"""A real rate provider backend, faked at its HTTP boundary by a local server."""

import json
import os
import subprocess
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from django.db import connection
from djmoney.contrib.exchange.models import ExchangeBackend, Rate

from money.rates import current_quote, refresh_rates

ROOT = Path(__file__).resolve().parent.parent.parent

# Open Exchange Rates' documented /api/latest.json answer.
LATEST = {
    "disclaimer": "Usage subject to terms: https://openexchangerates.org/terms",
    "license": "https://openexchangerates.org/license",
    "timestamp": 1764140400,
    "base": "USD",
    "rates": {"CNY": 7.0912, "EUR": 0.9187, "GBP": 0.7893, "JPY": 151.62, "USD": 1},
}


@pytest.fixture
def oxr_server():
    requests_seen = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            requests_seen.append(self.path)
            body = json.dumps(LATEST).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/api/latest.json", requests_seen
    server.shutdown()


@pytest.mark.django_db(transaction=True)
def test_an_open_exchange_rates_backend_is_pulled_and_quoted_from(oxr_server, settings):
    """The refresh runs as beat would: a separate process configured by environment variables."""
    url, seen = oxr_server
    database = connection.settings_dict
    if connection.vendor == "sqlite":
        database_url = f"sqlite:///{database['NAME']}"
    else:
        database_url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "billing_center.settings.base",
        "DATABASE_URL": database_url,
        "EXCHANGE_BACKEND": "money.rates.OpenExchangeRatesBackend",
        "OPEN_EXCHANGE_RATES_URL": url,
        "OPEN_EXCHANGE_RATES_APP_ID": "test-app-id",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "refresh_exchange_rates"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "openexchangerates.org" in result.stdout
    assert "app_id=test-app-id" in seen[0]
    assert Rate.objects.get(backend="openexchangerates.org", currency="CNY").value == Decimal("7.0912")

    settings.EXCHANGE_BACKEND = "money.rates.OpenExchangeRatesBackend"
    quote = current_quote(billing_currency="USD", payment_currency="CNY")
    assert quote.rate == Decimal("7.0912") and quote.source == "openexchangerates.org"


@pytest.mark.django_db
def test_the_finance_rate_sheet_works_offline_and_only_creates_the_sheet():
    assert refresh_rates() == "finance"
    assert ExchangeBackend.objects.get(name="finance").rates.count() == 0


@pytest.mark.django_db
def test_a_hung_rate_provider_fails_the_refresh_in_bounded_time(settings):
    """A loopback port that accepts and never answers: the refresh gives up instead of hanging."""
    import socket
    import time

    from money.rates import OpenExchangeRatesBackend

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    backend = OpenExchangeRatesBackend(
        url=f"http://127.0.0.1:{listener.getsockname()[1]}/api/latest.json", access_key="test-app-id"
    )
    backend.timeout_seconds = 1
    started = time.monotonic()
    try:
        with pytest.raises(OSError):  # socket.timeout / URLError
            backend.update_rates(base_currency="USD")
    finally:
        listener.close()
    assert time.monotonic() - started < 5
    assert not Rate.objects.filter(backend="openexchangerates.org").exists()
