"""Test settings: fast hashing, private files and the file broker in temporary folders."""

import os
import tempfile

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, STORAGE_BACKEND, STORAGES

# In memory, so tests can read them; a worker process of the reliability suite names its own.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")  # noqa: F405
SMS_BACKEND = env("SMS_BACKEND", "accounts.sms.memory.MemoryBackend")  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="billing-test-media-")
if STORAGE_BACKEND == "local":
    STORAGES = {**STORAGES, "certificates": {**STORAGES["certificates"], "OPTIONS": {"location": MEDIA_ROOT}}}
STATIC_ROOT = tempfile.mkdtemp(prefix="billing-test-static-")  # whitenoise wants it to exist
# Tests post to the webhook thousands of times from one address; the lockout is tested on its own.
AXES_FAILURE_LIMIT = 50
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Never hand test messages to a developer's running worker.
    _broker = tempfile.mkdtemp(prefix="billing-test-broker-")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": f"{_broker}/queue",
        "data_folder_out": f"{_broker}/queue",
        "control_folder": f"{_broker}/control",
    }
# One cache folder for a test run and every process it starts without REDIS_URL (they inherit
# the variable): web and worker processes share their cache, as `make run`'s share var/cache
# (the worker heartbeat, the wake flag of topups.wake).
TEST_CACHE_DIR = os.environ.get("BILLING_TEST_CACHE_DIR") or tempfile.mkdtemp(prefix="billing-test-cache-")
os.environ["BILLING_TEST_CACHE_DIR"] = TEST_CACHE_DIR
if not REDIS_URL:  # noqa: F405
    CACHES = {"default": {"BACKEND": "billing_center.cache.FileBasedCache", "LOCATION": TEST_CACHE_DIR}}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not the shared-cache in-memory default: its table locks ignore the busy
    # timeout, so the live server's threads would fail where a real SQLite file waits.
    DATABASES["default"]["TEST"] = {"NAME": f"{tempfile.mkdtemp(prefix='billing-test-db-')}/test.sqlite3"}  # noqa: F405
if CELERY_BROKER_URL.startswith("amqp"):
    # The test worker's event loop sleeps until its next timer; with a heartbeat checked every
    # second it notices a stop request at once instead of after the default 60 s.
    CELERY_BROKER_HEARTBEAT = 2
