"""Who receives the expenditure alert: confirmed mobile numbers (by a texted code) and e-mails."""

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from money.errors import Invalid, NotFound, Refused

from .models import Account, AlertRecipient, OutboundSms
from .notifications import queue_sms, recipient_language
from .phones import InvalidPhoneNumber, normalise_mobile

CODE_VALID = timedelta(minutes=10)
MAX_CODE_ATTEMPTS = 5
MAX_CODES_PER_NUMBER = 5
MAX_CODES_PER_ACCOUNT_PER_DAY = 10
MAX_RECIPIENTS = 5


def add_sms_recipient(*, account_id: int, number: str, now: datetime | None = None) -> AlertRecipient:
    """Add a mobile number (normalised to E.164) and text it a one-time code to confirm it."""
    try:
        address = normalise_mobile(number)
    except InvalidPhoneNumber as exc:
        raise Invalid(str(exc), code="invalid_phone") from exc
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        recipient = account.alert_recipients.filter(kind=AlertRecipient.Kind.SMS, address=address).first()
        if recipient is None:
            _check_recipient_room(account)
            recipient = AlertRecipient.objects.create(account=account, kind=AlertRecipient.Kind.SMS, address=address)
        if not recipient.is_confirmed:
            send_confirmation_code(recipient=recipient, now=now)
        return recipient


def add_email_recipient(*, account_id: int, email: str) -> AlertRecipient:
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        address = email.strip().lower()
        existing = account.alert_recipients.filter(kind=AlertRecipient.Kind.EMAIL, address=address).first()
        if existing:
            return existing
        _check_recipient_room(account)
        return AlertRecipient.objects.create(
            account=account, kind=AlertRecipient.Kind.EMAIL, address=address, confirmed_at=timezone.now()
        )


def _check_recipient_room(account: Account) -> None:
    if account.alert_recipients.count() >= MAX_RECIPIENTS:
        raise Refused(
            _("An alert goes to at most %(count)s recipients; remove one first.") % {"count": MAX_RECIPIENTS},
            code="too_many",
        )


def send_confirmation_code(*, recipient: AlertRecipient, now: datetime | None = None) -> None:
    """Text a fresh 6-digit code; a number gets at most MAX_CODES_PER_NUMBER of them."""
    now = now or timezone.now()
    if recipient.codes_sent >= MAX_CODES_PER_NUMBER:
        raise Refused(
            _("Too many codes were sent to this number. Remove it and add it again tomorrow, or contact support."),
            code="too_many_codes",
        )
    # Per account too, so removing and re-adding numbers cannot make us text without end.
    sent_today = OutboundSms.objects.filter(
        account_id=recipient.account_id, dedupe_key__startswith="code:", created_at__gte=now - timedelta(days=1)
    ).count()
    if sent_today >= MAX_CODES_PER_ACCOUNT_PER_DAY:
        raise Refused(
            _("We sent %(count)s codes for this account in the last 24 hours. Try again tomorrow.")
            % {"count": MAX_CODES_PER_ACCOUNT_PER_DAY},
            code="too_many_codes",
        )
    code = f"{secrets.randbelow(1_000_000):06d}"
    recipient.code_hash = _code_hash(recipient, code)
    recipient.code_expires_at = now + CODE_VALID
    recipient.code_attempts = 0
    recipient.codes_sent += 1
    recipient.save(update_fields=["code_hash", "code_expires_at", "code_attempts", "codes_sent"])
    with recipient_language(recipient):
        # Short (one SMS segment) and without the account name a customer chose.
        text = _(
            "Billing Center: your code is %(code)s. It confirms this number for balance alerts and is valid "
            "for %(minutes)s minutes."
        ) % {"code": code, "minutes": int(CODE_VALID.total_seconds() // 60)}
    queue_sms(
        dedupe_key=f"code:{recipient.pk}:{recipient.codes_sent}",
        to=recipient.address,
        text=text,
        account=recipient.account,
    )


def confirm_sms_recipient(
    *, account_id: int, recipient_id: int, code: str, now: datetime | None = None
) -> AlertRecipient:
    """Confirm a number with the code texted to it. A wrong guess is counted and committed
    before the refusal is raised: the counter must survive the error it causes."""
    now = now or timezone.now()
    with transaction.atomic():
        recipient = (
            AlertRecipient.objects.select_for_update()
            .filter(account_id=account_id, kind=AlertRecipient.Kind.SMS, pk=recipient_id)
            .first()
        )
        if recipient is None:
            raise NotFound(_("Unknown recipient."), code="unknown_recipient")
        if recipient.is_confirmed:
            return recipient
        if recipient.code_attempts >= MAX_CODE_ATTEMPTS:
            refusal = Refused(_("Too many wrong codes. Send a new code."), code="code_locked")
        elif recipient.code_expires_at is None or now > recipient.code_expires_at:
            refusal = Invalid(_("This code has expired. Send a new code."), code="code_expired")
        elif not hmac.compare_digest(recipient.code_hash, _code_hash(recipient, code.strip())):
            recipient.code_attempts += 1
            recipient.save(update_fields=["code_attempts"])
            left = MAX_CODE_ATTEMPTS - recipient.code_attempts
            refusal = Invalid(
                ngettext(
                    "That code is not right; %(left)s try left.", "That code is not right; %(left)s tries left.", left
                )
                % {"left": left},
                code="bad_code",
            )
        else:
            recipient.confirmed_at, recipient.code_hash = now, ""
            recipient.save(update_fields=["confirmed_at", "code_hash"])
            return recipient
    raise refusal


def _code_hash(recipient: AlertRecipient, code: str) -> str:
    message = f"{recipient.pk}:{recipient.address}:{code}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def remove_recipient(*, account_id: int, recipient_id: int) -> None:
    deleted, _per_model = AlertRecipient.objects.filter(account_id=account_id, pk=recipient_id).delete()
    if not deleted:
        raise NotFound(_("That recipient is not on this account."), code="unknown_recipient")


def resend_confirmation_code(*, account_id: int, recipient_id: int, now: datetime | None = None) -> AlertRecipient:
    """A new code for a number still waiting for one; the row is locked, so a double click
    cannot leave a code in the SMS that no longer matches the stored one. The account's row first, as adding a
    number locks it: its codes a day are counted under it (twenty resends at once had texted 14 against 10)."""
    with transaction.atomic():
        Account.objects.select_for_update().filter(pk=account_id).first()
        recipient = (
            AlertRecipient.objects.select_for_update()
            .filter(pk=recipient_id, account_id=account_id, kind=AlertRecipient.Kind.SMS, confirmed_at__isnull=True)
            .first()
        )
        if recipient is None:
            raise NotFound(_("Unknown recipient."), code="unknown_recipient")
        send_confirmation_code(recipient=recipient, now=now)
        return recipient
