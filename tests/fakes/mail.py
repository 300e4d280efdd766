"""A slow mail server: Django's in-memory backend, taking `seconds_per_message` for each message
(an SMTP server under load), so a batch's sending can outlast part of the outbox's lease."""

import time

from django.core.mail.backends.locmem import EmailBackend


class SlowEmailBackend(EmailBackend):
    seconds_per_message = 0.4

    def send_messages(self, messages):
        time.sleep(self.seconds_per_message * len(messages))
        return super().send_messages(messages)
