"""Production: real secrets required, HTTPS everywhere, `manage.py check --deploy` clean."""

import os

from django.core.exceptions import ImproperlyConfigured

# Production must not fall back to the embedded local key, so read it before base does.
if len(os.environ.get("SECRET_KEY", "")) < 50 or os.environ["SECRET_KEY"].startswith("insecure"):
    raise ImproperlyConfigured("Set SECRET_KEY to a random value of at least 50 characters.")
os.environ.setdefault("DEBUG", "false")

from .base import *  # noqa: E402,F403
from .base import (  # noqa: E402
    METRICS_TOKEN,
    PAYMENT_GATEWAY,
    SANDBOX_WEBHOOK_SECRETS,
    SMS_BACKEND,
    STRIPE_SECRET_KEY,
    STRIPE_WEBHOOK_SECRETS,
    TWILIO_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN,
    TWILIO_FROM_NUMBER,
    TWILIO_MESSAGING_SERVICE_SID,
    env,
    env_bool,
    env_list,
)

if DEBUG:  # noqa: F405
    raise ImproperlyConfigured("DEBUG must be off in production.")
if DEMO:  # noqa: F405
    raise ImproperlyConfigured("DEMO must be off in production: it lets anyone read staff one-time codes.")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Set ALLOWED_HOSTS to the host names this site answers to.")

# The sandbox gateway lets anyone "pay" without money changing hands: never by accident.
if PAYMENT_GATEWAY == "sandbox":
    if not env_bool("ALLOW_SANDBOX_GATEWAY", False):
        raise ImproperlyConfigured("PAYMENT_GATEWAY=sandbox in production needs ALLOW_SANDBOX_GATEWAY=true.")
    if SANDBOX_WEBHOOK_SECRETS == ["whsec_sandbox_local_only"]:
        raise ImproperlyConfigured("Set SANDBOX_WEBHOOK_SECRET: the built-in one is public.")
if PAYMENT_GATEWAY == "stripe" and not (STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRETS):
    raise ImproperlyConfigured("PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET.")

# Low-balance alerts must reach phones: the console backend only logs them.
if SMS_BACKEND.endswith((".ConsoleBackend", ".MemoryBackend", ".FileBackend")) and not env_bool(
    "ALLOW_LOCAL_SMS", False
):
    raise ImproperlyConfigured("Set SMS_BACKEND to a real provider (or ALLOW_LOCAL_SMS=true to keep SMS on this host).")
if SMS_BACKEND.endswith(".TwilioBackend") and not (
    TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN and (TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID)
):
    raise ImproperlyConfigured("SMS_BACKEND=Twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and a sender.")

# Outbound webhooks go to the internet over https only: never to this host or its network.
if WEBHOOK_ALLOW_LOOPBACK or not WEBHOOK_REQUIRE_HTTPS:  # noqa: F405
    raise ImproperlyConfigured("Webhooks in production need https and no loopback (WEBHOOK_* settings).")

# /metrics: behind a reverse proxy on this host every request comes from loopback, so loopback
# proves nothing here; a scraper needs METRICS_TOKEN or METRICS_ALLOW (settings/observability.py).
METRICS_OPEN_ON_LOOPBACK = False
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 32 characters (e.g. `openssl rand -hex 32`).")

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# The load balancer probes each node's /healthz over plain http on the private network, without
# X-Forwarded-Proto: a redirect to https there would read as a failed probe on every node.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# TLS ends at the load balancer, which says so in X-Forwarded-Proto (and overwrites any the client
# sent): then a request is https to Django (no redirect, HSTS, the CSRF Referer check).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_AGE = 8 * 60 * 60

from .cluster import CLUSTER  # noqa: E402,F401  (CLUSTER=true refuses single-host parts: settings/cluster.py)
