"""Compile the translation catalogues (locale/*/zh_Hans/LC_MESSAGES/*.po) with Babel: no GNU gettext needed."""

from django.core.management.base import BaseCommand

from billing_center.catalogues import compile_all


class Command(BaseCommand):
    help = "Compile every translation catalogue whose .po is newer than its .mo."

    def handle(self, *args, **options):
        written = compile_all()
        self.stdout.write(f"Compiled {len(written)} catalogue(s).")
