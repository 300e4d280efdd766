"""Certificates kept while the customer corrects the rest of the ticket form.

A ticket form with a wrong field would otherwise forget every file, and the customer picks
them all again. Files that passed their checks are held server side, for the account and
the user who sent them, for HOLD_FOR; the form shows them as attached and sends their
tokens back. Submitting the ticket moves them into it; the purge removes what was left.
"""

import logging
from datetime import datetime, timedelta

from django.core.files.base import ContentFile
from django.utils import timezone

from money.parsing import uuid_or_none

from .certificates import CheckedCertificate
from .models import HeldCertificate

logger = logging.getLogger(__name__)

HOLD_FOR = timedelta(hours=2)


def hold(checked: list[CheckedCertificate], *, account_id: int, user) -> list[HeldCertificate]:
    """Keep checked certificates for the form the customer is correcting. Best effort: if the
    storage fails, the form asks for the files again, as it did before files were kept."""
    held = []
    for certificate in checked:
        row = HeldCertificate(
            account_id=account_id,
            user=user,
            original_name=certificate.original_name,
            content_type=certificate.content_type,
            extension=certificate.extension,
            size=certificate.size,
            sha256=certificate.sha256,
        )
        try:
            row.file.save("held", ContentFile(certificate.content), save=True)
        except OSError:
            logger.warning("Could not keep a certificate for account %s's ticket form", account_id, exc_info=True)
            break
        held.append(row)
    return held


def held_for(tokens: list[str], *, account_id: int, user, now: datetime | None = None) -> list[HeldCertificate]:
    """The caller's own unexpired held certificates among `tokens`; anything else is ignored."""
    now = now or timezone.now()
    parsed = {token for token in map(uuid_or_none, tokens[:20]) if token}
    if not parsed:
        return []
    return list(
        HeldCertificate.objects.filter(
            token__in=parsed, account_id=account_id, user=user, created_at__gte=now - HOLD_FOR
        ).order_by("created_at", "id")
    )


def as_checked(held: HeldCertificate) -> CheckedCertificate:
    """What submit_ticket stores: the same bytes and facts as when the file was checked."""
    with held.file.open("rb") as stream:
        content = stream.read()
    return CheckedCertificate(
        content=content,
        content_type=held.content_type,
        extension=held.extension,
        sha256=held.sha256,
        original_name=held.original_name,
        size=held.size,
    )


def release(held: list[HeldCertificate]) -> None:
    """Forget held certificates (their ticket was submitted, or they expired)."""
    for row in held:
        row.file.delete(save=False)
        row.delete()


def purge_held_certificates(*, now: datetime | None = None) -> int:
    """The beat task: remove held certificates past HOLD_FOR, files first."""
    now = now or timezone.now()
    expired = list(HeldCertificate.objects.filter(created_at__lt=now - HOLD_FOR)[:1000])
    release(expired)
    return len(expired)
