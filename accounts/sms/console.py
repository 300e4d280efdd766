"""Development backend: the message appears in the terminal instead of on a phone."""

import logging
import uuid

from billing_center.privacy import mask_phone

logger = logging.getLogger("accounts.sms")


class ConsoleBackend:
    """Prints each message on one line and logs it; nothing leaves the machine.

    The printed line carries the full number so a developer can see who would have been
    texted; the log record masks it, because logs are kept and shipped elsewhere.
    """

    def send(self, to: str, text: str, *, idempotency_key: str) -> str:
        message_id = f"console-{uuid.uuid4().hex}"
        one_line = text.replace("\r", "\\r").replace("\n", "\\n")
        logger.info("SMS %s to %s (console backend, not sent): %s", message_id, mask_phone(to), one_line)
        print(f"SMS to {to}: {one_line}", flush=True)
        return message_id
