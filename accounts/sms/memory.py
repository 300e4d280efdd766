"""Test backend: messages are kept in `outbox`, as django.core.mail's locmem backend keeps e-mails.

Every send is appended, even with a repeated idempotency key, so a test can see that the
code calling the backend sent an alert twice.
"""

import itertools

outbox: list[dict[str, str]] = []
_numbers = itertools.count(1)


class MemoryBackend:
    """Appends {"id", "to", "text", "idempotency_key"} to the module-level `outbox`."""

    def send(self, to: str, text: str, *, idempotency_key: str) -> str:
        message_id = f"mem-{next(_numbers)}"
        outbox.append({"id": message_id, "to": to, "text": text, "idempotency_key": idempotency_key})
        return message_id
