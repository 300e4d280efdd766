"""/metrics for Prometheus: who may read it, and what it reports.

Two kinds of numbers. Per process: prometheus_client's process and Python metrics and
django-prometheus's HTTP metrics (requests, latencies, statuses), counted in the gunicorn
worker that served each request; with PROMETHEUS_MULTIPROC_DIR set they are summed over the
workers of one machine. Per system: each app's counts (credits by path, webhook deliveries,
tickets, the outbox) are read from the database when the page is scraped, by the sources
named in settings.METRICS_SOURCES, so every process of every machine reports the same figures.
The sources live in the apps (accounts.metrics, ...), which this module cannot import.

Access (settings/observability.py): a scraper passes every check configured, the bearer token
(METRICS_TOKEN) and the address allow-list (METRICS_ALLOW), or gets a 403. With neither
configured the page is a 404, except to loopback while METRICS_OPEN_ON_LOOPBACK (development).
"""

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterable, Iterator

import prometheus_client
from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from .client_address import client_address
from .health import HEARTBEAT_KEY

logger = logging.getLogger(__name__)


# --- Access ---------------------------------------------------------------------------------


def _address_in(address: str, networks: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def _token_matches(request, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def check_access(request) -> HttpResponse | None:
    """None when the scraper may read the page; otherwise the answer it gets."""
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOW
    if not token and not networks:
        if settings.METRICS_OPEN_ON_LOOPBACK and _address_in(client_address(request), ["127.0.0.0/8", "::1"]):
            return None
        raise Http404("Metrics are not configured.")
    if networks and not _address_in(client_address(request), networks):
        return HttpResponse("Forbidden: this address may not read metrics.\n", status=403, content_type="text/plain")
    if token and not _token_matches(request, token):
        response = HttpResponse("Forbidden: a valid bearer token is required.\n", status=403, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return None


# --- What the page reports -------------------------------------------------------------------


class Exposition:
    """A prometheus_client collector: the process's own registry, then every configured source.

    Families with the same name from several sources (credits by path come from topups and from
    tickets) are merged into one, as the text format requires. A source that fails is logged and
    reported as billing_metrics_source_up 0; the rest of the page still answers."""

    def __init__(self, *, now=None):
        self.now = now or timezone.now()

    def collect(self) -> Iterator[Metric]:
        yield from process_registry().collect()
        merged: dict[str, Metric] = {}
        up = GaugeMetricFamily(
            "billing_metrics_source_up",
            "Whether a metrics source answered this scrape (1) or failed (0).",
            labels=["source"],
        )
        for path in settings.METRICS_SOURCES:
            try:
                families = list(import_string(path)(now=self.now))
            except Exception:
                logger.exception("Metrics source %s failed", path)
                up.add_metric([path], 0)
                continue
            up.add_metric([path], 1)
            for family in families:
                if family.name in merged:
                    merged[family.name].samples.extend(family.samples)
                else:
                    merged[family.name] = family
        yield from merged.values()
        yield up


def process_registry():
    """This process's metrics, or all gunicorn workers' of this machine in multiprocess mode."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return prometheus_client.REGISTRY


@never_cache
@require_GET
def metrics_view(request):
    refused = check_access(request)
    if refused is not None:
        return refused
    body = prometheus_client.generate_latest(Exposition())
    return HttpResponse(body, content_type=prometheus_client.exposition.CONTENT_TYPE_PLAIN_0_0_4)


# --- Infrastructure metrics: the broker and the workers ----------------------------------------


def collect_broker(*, now) -> list[Metric]:
    """Messages waiting in each Celery queue (Redis list lengths, the file broker's files), and
    how long ago a worker last reported in (the heartbeat /healthz reads)."""
    from billing_center.celery import app

    up = GaugeMetricFamily("billing_celery_broker_up", "Whether the Celery broker answered this scrape.")
    depth = GaugeMetricFamily(
        "billing_celery_queue_messages",
        "Messages waiting in a Celery queue, not yet taken by a worker.",
        labels=["queue"],
    )
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
            for queue in sorted(app.amqp.queues):
                depth.add_metric([queue], queue_length(connection, queue))
        up.add_metric([], 1)
    except Exception as exc:  # an unreachable broker is what the gauge reports
        logger.warning("Metrics could not read the broker: %r", exc)
        up.add_metric([], 0)
        depth.samples.clear()
    return [up, depth, *heartbeat_age()]


def queue_length(connection, queue: str) -> int:
    """A passive declare counts the messages without creating the queue; a queue the broker does
    not know (Redis keeps no empty list) holds none."""
    channel = connection.channel()
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count
    except connection.channel_errors:
        return 0
    finally:
        channel.close()


def heartbeat_age() -> list[Metric]:
    try:
        beat = cache.get(HEARTBEAT_KEY)
    except Exception as exc:  # the cache being away must not take the broker's figures with it
        logger.warning("Metrics could not read the worker heartbeat: %r", exc)
        return []
    if beat is None:
        return []  # no worker has reported in yet
    age = GaugeMetricFamily(
        "billing_worker_heartbeat_age_seconds",
        "Seconds since a Celery worker last recorded its heartbeat (beat asks for one every 30 s).",
        value=max(0.0, time.time() - beat),
    )
    return [age]
