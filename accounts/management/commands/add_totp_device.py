"""Enrol a staff user's authenticator app: admin asks for its one-time codes."""

import segno
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User


class Command(BaseCommand):
    help = "Create a TOTP device for a staff user and print its otpauth:// URL and a QR code to scan."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="authenticator")

    def handle(self, *args, username, name, **options):
        user = User.objects.filter(username=username, is_staff=True).first()
        if user is None:
            raise CommandError(f"No staff user {username!r}.")
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
        self.stdout.write(f"Scan this with the authenticator app of {username}, or enter the URL by hand:")
        self.stdout.write(device.config_url)
        segno.make(device.config_url).terminal(out=self.stdout, compact=True)
