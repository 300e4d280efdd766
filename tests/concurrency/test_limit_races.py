"""Per-account limits counted under the account's row lock, raced for real on PostgreSQL (found by a helper):
the counts had been taken under locks of rows that did not exist yet, or of one row of many."""

import pytest

from accounts.models import OutboundSms, WebhookEndpoint
from accounts.outbound_webhooks.endpoints import register_endpoint
from accounts.recipients import MAX_CODES_PER_ACCOUNT_PER_DAY, add_sms_recipient, resend_confirmation_code
from tests.concurrency.test_races import race
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_endpoints_registered_at_once_stay_within_the_accounts_limit(settings):
    settings.WEBHOOK_ENDPOINTS_PER_ACCOUNT = 3
    user = UserFactory()
    results = race(
        [
            lambda i=i: register_endpoint(
                account=user.account, url=f"https://93.184.216.34/h{i}", event_types=["topup.credited"], actor=user
            )
            for i in range(12)
        ]
    )
    assert WebhookEndpoint.objects.filter(account=user.account).count() == 3, results
    assert sum(getattr(result, "code", "") == "webhook_endpoint_limit" for result in results) == 9


def test_codes_resent_at_once_stay_within_the_accounts_daily_cap():
    """docs/security.md: ten codes a day per account. Twenty resends at once had texted 13 or 14."""
    user = UserFactory()
    numbers = [f"+44 7400 12345{n}" for n in range(1, 6)]
    recipients = [add_sms_recipient(account_id=user.account_id, number=number) for number in numbers]  # 5 codes
    race([lambda r=r: resend_confirmation_code(account_id=user.account_id, recipient_id=r.pk) for r in recipients * 4])
    sent = OutboundSms.objects.filter(account_id=user.account_id, dedupe_key__startswith="code:").count()
    assert sent == MAX_CODES_PER_ACCOUNT_PER_DAY
