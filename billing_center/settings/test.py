"""Test settings: fast hashing, private files in a temporary folder, no login lockouts in the way."""

import os
import tempfile

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="billing-test-media-")
# Tests call the webhook a few thousand times from one address; the lockout itself is
# tested with its own limit.
AXES_FAILURE_LIMIT = 50
# Tests publish to their own broker database so stale messages never reach a dev worker.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", CELERY_BROKER_URL)  # noqa: F405
