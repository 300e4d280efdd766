"""Backend for staging and demos: messages pile up as JSON lines in a file someone can read."""

import json
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone


class FileBackend:
    """Appends one JSON object per message to settings.SMS_FILE_PATH.

    One line per message, written with a single append, so the file can be tailed and
    several worker processes can share it.
    """

    def __init__(self) -> None:
        path = getattr(settings, "SMS_FILE_PATH", None)
        if not path:
            raise ImproperlyConfigured("SMS_FILE_PATH must be set to use accounts.sms.file.FileBackend.")
        self.path = Path(path)

    def send(self, to: str, text: str, *, idempotency_key: str) -> str:
        message_id = f"file-{uuid.uuid4().hex}"
        record = {"id": message_id, "to": to, "text": text, "sent_at": timezone.now().isoformat()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return message_id
