"""Bring the translation catalogues in line with the code (billing_center.catalogues)."""

from django.core.management.base import BaseCommand

from billing_center.catalogues import untranslated, update


class Command(BaseCommand):
    help = "Add the messages the code marks for translation to their area's catalogue, drop unused ones."

    def handle(self, *args, **options):
        for path, (added, dropped) in sorted(update().items()):
            self.stdout.write(f"{path}: {added} added, {dropped} dropped")
        missing = untranslated()
        self.stdout.write(f"{len(missing)} message(s) to translate" + (":" if missing else "."))
        for problem in missing:
            self.stdout.write(f"  {problem}")
