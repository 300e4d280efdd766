"""The bench server: the test settings plus one trivial view to measure pages against."""

from billing_center.settings.test import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# The "ledger peers" figure's peer (bench/ledger_peers.py): django-hordak and its account tree,
# from requirements-bench.txt only. Its migrations (tables, triggers, views) run in the bench database.
INSTALLED_APPS = [*INSTALLED_APPS, "mptt", "hordak"]  # noqa: F405
