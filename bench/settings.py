"""The bench server: the test settings plus one trivial view to measure pages against."""

from billing_center.settings.test import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
