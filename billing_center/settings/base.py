"""Everything Billing Center needs, with embedded defaults that run on a fresh machine.

Each integration is switched by one environment variable and stays on its local,
offline default until switched: SQLite under var/, kombu's filesystem broker under
var/, the sandbox payment gateway, SMS and e-mail written to the console.
"""

import os
from decimal import Decimal
from pathlib import Path

from money.formatting import READER_PATTERN

from .database import database_settings
from .environment import env, env_bool, env_list
from .storage import S3_BUCKET, STORAGE_BACKEND, document_storages  # noqa: F401  (settings of their own)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("BILLING_VAR_DIR", BASE_DIR / "var"))
# SQLite and the file cache live here and cannot create it themselves.
VAR_DIR.mkdir(parents=True, exist_ok=True)


# The key below is for local runs only; production.py refuses to start without a real one.
SECRET_KEY = env("SECRET_KEY", "insecure-local-only-key-never-use-in-production-0123456789")
# Off unless asked for: `make run` serves like production (branded error pages, whitenoise).
DEBUG = env_bool("DEBUG", False)
# The demo's own tools (seed_demo, demo_otp_code, demo_alert): `make run` turns them on; production refuses them.
DEMO = env_bool("DEMO", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "billing_center.errors.csrf_failure"
PORT = int(env("PORT", "8000"))
# Absolute base of our own URLs where there is no request (gateway return URLs built by workers, links in messages).
SITE_URL = env("SITE_URL", f"http://127.0.0.1:{PORT}").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "djmoney",
    "djmoney.contrib.exchange",
    "simple_history",
    "axes",
    "accounts",
    "bills",
    "topups",
    "tickets",
    "billing_center",  # last of ours: its commands (seed_demo) use every app above
    "django_otp",
    "django_otp.plugins.otp_totp",
]

MIDDLEWARE = [
    # django-prometheus's pair (Before first, After last but axes) counts and times each request for /metrics.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # The request id on every log line of the request and of the tasks it queues (billing_center.request_id).
    "billing_center.request_id.request_id_middleware",
    "django.middleware.security.SecurityMiddleware",
    "billing_center.middleware.reject_nul_bytes",
    "billing_center.middleware.limit_request_size",
    "billing_center.security_headers.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Staff sessions are verified with a one-time password (django-otp): admin needs it.
    "django_otp.middleware.OTPMiddleware",
    "billing_center.middleware.staff_session_expiry",
    # The signed-in reader's own language and time zone win over the browser's (accounts.language).
    "accounts.language.reader_middleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "billing_center.errors.BillingErrorMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: it turns a lockout into its response.
    "axes.middleware.AxesMiddleware",
]

# Messages are kept in the session (the database), not in a cookie: a signed cookie is readable, and some say
# secrets shown once (an API token, a webhook signing secret) (found by a helper).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Gateway notifications (topups.webhooks) are signed machine POSTs: billing_center.machine_routes serves
# these paths through only the middleware that applies to them (no session, language, CSRF token, user or
# lockout does). The order is MIDDLEWARE's.
MACHINE_PATHS = ["/webhooks/"]
MACHINE_MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "billing_center.request_id.request_id_middleware",
    "django.middleware.security.SecurityMiddleware",
    "billing_center.middleware.reject_nul_bytes",
    "billing_center.middleware.limit_request_size",
    "django.middleware.common.CommonMiddleware",
    "billing_center.errors.BillingErrorMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "billing_center.urls"
WSGI_APPLICATION = "billing_center.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.current_account",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'billing_center.sqlite3'}")
DATABASES = {"default": database_settings(DATABASE_URL)}  # pooling and PgBouncer: settings/database.py
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "accounts:overview"
LOGOUT_REDIRECT_URL = "login"
AXES_FAILURE_LIMIT = int(env("AXES_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = 1  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_USERNAME_CALLABLE = "billing_center.login_throttling.throttled_username"
# Behind TRUSTED_PROXY_COUNT reverse proxies (the load balancer: 1) the client's address is the
# one the outermost proxy appended to X-Forwarded-For, which a client cannot forge by sending its
# own header; without proxies, REMOTE_ADDR. Login throttling counts failures per username and that
# address (billing_center/client_address.py), in the database every node shares.
TRUSTED_PROXY_COUNT = int(env("TRUSTED_PROXY_COUNT", "0"))
AXES_CLIENT_IP_CALLABLE = "billing_center.client_address.client_address"
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "Billing Center")
# Staff (finance, admins) hold money powers: their sessions end after an hour without use.
STAFF_SESSION_SECONDS = int(env("STAFF_SESSION_SECONDS", "3600"))

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "en"
# English (the source strings) and Simplified Chinese; catalogues per area (billing_center.catalogues).
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = sorted(path.parent for path in (BASE_DIR / "locale").glob("*/zh_Hans"))
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Private uploads (bank certificates) live under here and are never served by URL.
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "private-media")))
STORAGES = {
    **document_storages(MEDIA_ROOT),  # certificates on this disk or in object storage: settings/storage.py
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Locally, serve straight from the source folders so an edited file shows without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- Cache: shared by web and worker processes (worker heartbeat, login throttling) ------
REDIS_URL = env("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "billing_center.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # A hung Redis must cost a request seconds, not forever (redis-py waits forever by default).
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "billing_center.cache.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's file broker with atomic writes (billing_center/file_broker.py); it creates its folders.
    CELERY_BROKER_TRANSPORT = env("CELERY_BROKER_TRANSPORT", "billing_center.file_broker:Transport")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
    }
else:
    # A publish must never hang a web request on a broker that is away or hung (redis-py waits forever).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "max_retries": 2,
        "interval_start": 0,
        "interval_step": 0.5,
        "socket_connect_timeout": 3,
        "socket_timeout": 5,
        # A message a killed worker took but never acknowledged (acks_late) goes back to the
        # queue after this long. Longer than any task runs; retry countdowns are far shorter.
        "visibility_timeout": int(env("CELERY_VISIBILITY_TIMEOUT", "3600")),
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
from .schedule import CELERY_BEAT_SCHEDULE, CELERY_BEAT_SCHEDULER  # noqa: E402,F401  (the periodic tasks, one file)

# --- Money ----------------------------------------------------------------------------
BILLING_CURRENCIES = env_list("BILLING_CURRENCIES", "USD,CNY,EUR,GBP,JPY")
DEFAULT_CURRENCY = env("DEFAULT_CURRENCY", "USD")
# Currencies a customer may pay in (My Account > Preferences). A payment in another
# currency than the account's is converted at a rate locked when the top-up starts.
PAYMENT_CURRENCIES = env_list("PAYMENT_CURRENCIES", ",".join(BILLING_CURRENCIES))
CURRENCIES = sorted(set(BILLING_CURRENCIES) | set(PAYMENT_CURRENCIES))  # django-money's choices
# A currency reads as its code in every choice, as in our own forms: py-moneyed's names are English only.
CURRENCY_CHOICES = [(code, code) for code in CURRENCIES]
# str(Money) as money.formatting prints, in the reader's language: "1,234.50 USD", "US$1,234.50" (babel).
MONEY_FORMAT = {"format": READER_PATTERN}
# Per billing currency: minimum and maximum credit per top-up, and the most credited
# (or still payable) in any 24 hours. "CUR:min:max:daily", comma-separated.
TOPUP_LIMITS = {
    code: tuple(Decimal(value) for value in rest.split(":"))
    for code, _, rest in (
        item.partition(":")
        for item in env_list(
            "TOPUP_LIMITS",
            "USD:10:50000:100000,EUR:10:50000:100000,GBP:10:40000:80000,CNY:70:350000:700000,JPY:1500:7500000:15000000",
        )
    )
}
TOPUP_RECONCILE_AFTER_MINUTES = int(env("TOPUP_RECONCILE_AFTER_MINUTES", "10"))
# How long a gateway checkout stays payable (Stripe allows 30 min to 24 h). Past it the
# gateway refuses the payment, so an unpaid checkout stops counting towards the daily limit.
TOPUP_CHECKOUT_TTL_MINUTES = max(30, int(env("TOPUP_CHECKOUT_TTL_MINUTES", "60")))
TOPUP_EXPIRE_AFTER_HOURS = int(env("TOPUP_EXPIRE_AFTER_HOURS", "24"))
DISPUTE_POLICY = env("DISPUTE_POLICY", "debit")  # "debit" when a dispute opens, or "hold" until it is lost

# Exchange rates live in django-money's exchange app. The default backend is the rate sheet finance
# keeps in Django admin (offline); a provider such as money.rates.OpenExchangeRatesBackend
# (OPEN_EXCHANGE_RATES_APP_ID) is pulled hourly by beat.
EXCHANGE_BACKEND = env("EXCHANGE_BACKEND", "money.rates.FinanceRateSheetBackend")
OPEN_EXCHANGE_RATES_APP_ID = env("OPEN_EXCHANGE_RATES_APP_ID", "")
OPEN_EXCHANGE_RATES_URL = env("OPEN_EXCHANGE_RATES_URL", "https://openexchangerates.org/api/latest.json")
RATES_CACHE_TIMEOUT = 0  # rates are read fresh: a quote must show the rate it will use
EXCHANGE_RATE_MAX_AGE_HOURS = int(env("EXCHANGE_RATE_MAX_AGE_HOURS", "24"))
TOPUP_QUOTE_VALID_MINUTES = int(env("TOPUP_QUOTE_VALID_MINUTES", "15"))

# --- E-mail: console by default; any SMTP server by EMAIL_URL-style settings ------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = 10
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))  # for ...filebased.EmailBackend
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Billing Center <billing@localhost>")

# --- Payment gateways -----------------------------------------------------------------
PAYMENT_GATEWAY = env("PAYMENT_GATEWAY", "sandbox")
# Webhook signatures older or newer than this many seconds are refused (Stripe's default).
WEBHOOK_TOLERANCE_SECONDS = 300
# Several secrets may be listed, comma-separated, while one is being rotated.
SANDBOX_WEBHOOK_SECRETS = env_list("SANDBOX_WEBHOOK_SECRET", "whsec_sandbox_local_only")
MERCHANT_NAME = env("MERCHANT_NAME", "Billing Center Cloud")
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", "")
STRIPE_WEBHOOK_SECRETS = env_list("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env("STRIPE_API_BASE", "https://api.stripe.com")
STRIPE_TIMEOUT_SECONDS = float(env("STRIPE_TIMEOUT_SECONDS", "8"))  # per try, waiting for Stripe's answer
# How long a stored delivery's wake flag stands for a queued batch task (topups.wake): a lost
# publish strands later deliveries at most this long (or until the minute sweep, if none follows).
DELIVERY_WAKE_SECONDS = 2
# Deliveries that failed verification (anyone can post them, a few KB each) are kept this many days for
# investigation, then purged hourly (topups.deliveries.purge_rejected_deliveries).
REJECTED_DELIVERY_KEEP_DAYS = int(env("REJECTED_DELIVERY_KEEP_DAYS", "30"))

# --- Bank-transfer tickets ----------------------------------------------------------------
# Finance credits a transfer ticket within this many working days, counted in its own
# country's holiday calendar (subdivision optional) and time zone.
TICKET_WORKING_DAYS = int(env("TICKET_WORKING_DAYS", "3"))
FINANCE_COUNTRY = env("FINANCE_COUNTRY", "CN")
FINANCE_SUBDIVISION = env("FINANCE_SUBDIVISION", "")
FINANCE_TIME_ZONE = env("FINANCE_TIME_ZONE", "Asia/Shanghai")  # also the months bills close
from .bills import *  # noqa: E402,F403  (postpaid bills: terms, reminders)
from .statements import *  # noqa: E402,F403  (bank statements: auto-credit, size ceiling)
from .webhooks import *  # noqa: E402,F403  (outbound webhooks: https, retries, timeouts)

# Finance is warned once when a ticket's deadline is this close, and once when it has passed.
TICKET_DUE_SOON_HOURS = int(env("TICKET_DUE_SOON_HOURS", "24"))
# Who gets those warnings; empty means every active member of the Finance group.
FINANCE_NOTIFY_EMAILS = env_list("FINANCE_NOTIFY_EMAILS")
FINANCE_GROUP = "Finance"
# Maker-checker: a credit above this amount (in the account's billing currency) posts only
# after a second, different finance user approves it. "CUR:amount", comma-separated;
# a currency not listed always needs a second approval.
TICKET_SECOND_APPROVAL_ABOVE = {
    code: Decimal(amount)
    for code, _, amount in (
        item.partition(":")
        for item in env_list("TICKET_SECOND_APPROVAL_ABOVE", "USD:10000,EUR:10000,GBP:8000,CNY:70000,JPY:1500000")
    )
}
CERTIFICATE_MAX_BYTES = int(env("CERTIFICATE_MAX_BYTES", str(10 * 1024 * 1024)))

# --- SMS ------------------------------------------------------------------------------
# accounts.sms.console.ConsoleBackend (default), accounts.sms.file.FileBackend (SMS_FILE_PATH),
# accounts.sms.memory.MemoryBackend (tests), accounts.sms.twilio.TwilioBackend (TWILIO_*).
SMS_BACKEND = env("SMS_BACKEND", "accounts.sms.console.ConsoleBackend")
SMS_FILE_PATH = env("SMS_FILE_PATH", str(VAR_DIR / "sms.jsonl"))
# A worker that claimed an e-mail or SMS and has not finished after this long is taken to
# be dead; its message is sent again. A message can go out twice only in that window. Far
# longer than one send can take (Twilio: 3 s + 10 s timeouts; SMTP: EMAIL_TIMEOUT per step).
OUTBOX_CLAIM_LEASE_SECONDS = int(env("OUTBOX_CLAIM_LEASE_SECONDS", "120"))
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = env("TWILIO_FROM_NUMBER", "")
TWILIO_MESSAGING_SERVICE_SID = env("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_API_BASE = env("TWILIO_API_BASE", "https://api.twilio.com")

# --- Demo -----------------------------------------------------------------------------
DEMO_PASSWORD = env("DEMO_PASSWORD", "billing-demo-2026")

# History is an audit trail: reverting a rate sheet would re-stamp an old rate as fresh.
SIMPLE_HISTORY_REVERT_DISABLED = True

# Content-Security-Policy (django-csp): scripts only from our own static files, never
# inline; style attributes stay allowed (templates and Django admin use them). Forms may
# post to us only, and a Pay form's redirect may land on Stripe Checkout.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", "https://checkout.stripe.com"],
    }
}

SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
# A full batch of 1,000 usage charges with long descriptions is a few MB of JSON.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# A ticket carries at most five certificates; a request with many more is refused outright.
DATA_UPLOAD_MAX_NUMBER_FILES = 10
# Nothing we accept is larger than five certificates and a form: a bigger body is refused
# (413) before it is read, rather than spooled to disk (billing_center.middleware).
MAX_REQUEST_BYTES = 5 * CERTIFICATE_MAX_BYTES + DATA_UPLOAD_MAX_MEMORY_SIZE

# Logs (plain or JSON lines, with request ids) and /metrics: settings/observability.py.
from .observability import *  # noqa: E402, F403
