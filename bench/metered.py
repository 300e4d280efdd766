"""A metered account's history in bulk, for bench/pages.py: hourly usage charges for hundreds of
resources, as the usage-charge API would have posted them, loaded with one INSERT … SELECT.

Legal as the ledger writer would leave it (accounts/ledger.py): entries in id order are the
posting order and carry the running balance (`balance_after`, a window sum), amounts are
non-zero with two places in the account's currency, each source is unique per kind, each usage
entry has its UsageCharge (unique per service and key), each month's usage is in its running
total (accounts.monthly_usage), and the account's cached balance is the last entry's
balance_after. Nothing is updated or deleted (the append-only trigger).
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import Account

RESOURCES = 500  # charged once an hour each, in one batch: 500 entries share each hour's time
CREDIT_EVERY = 10_000  # a prepaid credit (an adjustment by finance) first, then every this many entries
CREDIT = "500.00"

ENTRIES_SQL = """
WITH series AS (
    SELECT n, CASE WHEN (n - 1) %% %(credit_every)s = 0 THEN %(credit)s::numeric
                   ELSE -((n %% 7) + 1) * 0.01 END AS amount
    FROM generate_series(1, %(count)s) AS n
)
INSERT INTO accounts_ledgerentry (account_id, amount_currency, amount, kind, source_ref, description,
                                  balance_after_currency, balance_after, created_at, actor_id)
SELECT %(account)s, %(currency)s, amount,
       CASE WHEN amount > 0 THEN 'adjustment' ELSE 'usage' END,
       CASE WHEN amount > 0 THEN 'bench:prepaid:' || %(account)s || ':' || n
            ELSE 'charge:metering:' || %(account)s || '-' || n END,
       CASE WHEN amount > 0 THEN 'Prepaid credit'
            ELSE 'vm-' || lpad((n %% %(resources)s)::text, 3, '0') || ' hourly' END,
       %(currency)s, SUM(amount) OVER (ORDER BY n),
       %(first_hour)s::timestamptz + ((n - 1) / %(resources)s) * interval '1 hour', NULL
FROM series ORDER BY n
"""
# The charges the metering service posted, one per usage entry (accounts.usage_api.charges).
CHARGES_SQL = """
INSERT INTO accounts_usagecharge (service, idempotency_key, request_hash, amount_currency, amount, description,
                                  created_at, account_id, ledger_entry_id)
SELECT 'metering', substr(source_ref, length('charge:metering:') + 1), md5(source_ref) || md5(description),
       amount_currency, -amount, description, created_at, account_id, id
FROM accounts_ledgerentry WHERE account_id = %(account)s AND kind = 'usage' AND id > %(after)s
"""

# Each month's usage, as the writer's count_usage keeps it (months in finance's time zone).
MONTHS_SQL = """
INSERT INTO accounts_monthlyusage (account_id, month, spent)
SELECT account_id, date_trunc('month', created_at AT TIME ZONE %(finance_zone)s)::date, -SUM(amount)
FROM accounts_ledgerentry WHERE account_id = %(account)s AND kind = 'usage' GROUP BY 1, 2
"""


def load_usage_history(account: Account, *, count: int, resources: int = RESOURCES) -> None:
    """`count` entries older than any the account has, ending an hour ago: the account must have
    no entries yet (its history is then the oldest part of its ledger, in time and in ids)."""
    if connection.vendor != "postgresql":
        raise RuntimeError("the bulk history is plain PostgreSQL")
    if account.ledger_entries.exists() or account.balance.amount != 0:
        raise RuntimeError("load the history into an account without entries (and so a zero balance)")
    hours = -(-count // resources)
    first_hour = (timezone.now() - timedelta(hours=hours + 1)).replace(minute=0, second=0, microsecond=0)
    params = {
        "account": account.pk,
        "currency": account.billing_currency,
        "count": count,
        "resources": resources,
        "credit_every": CREDIT_EVERY,
        "credit": CREDIT,
        "first_hour": first_hour,
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM accounts_ledgerentry")
        after = cursor.fetchone()[0]
        cursor.execute(ENTRIES_SQL, params)
        cursor.execute(CHARGES_SQL, {"account": account.pk, "after": after})
        cursor.execute(MONTHS_SQL, {"account": account.pk, "finance_zone": settings.FINANCE_TIME_ZONE})
        cursor.execute(
            "UPDATE accounts_account SET balance = (SELECT balance_after FROM accounts_ledgerentry "
            "WHERE account_id = %(account)s ORDER BY id DESC LIMIT 1) WHERE id = %(account)s",
            params,
        )
    account.refresh_from_db(fields=["balance", "balance_currency"])


# What the account's webhook endpoint heard, as accounts.outbound_webhooks.events records it: a
# charge.created per API call (an hour's batch, every charge listed), a topup.credited per
# top-up; each delivered at the first attempt.
EVENTS_SQL = """
INSERT INTO accounts_webhookevent (event_id, type, account_id, payload, created_at)
SELECT 'evt_' || md5(%(account)s || ':' || kind || ':' || min(id)), type, %(account)s,
       jsonb_build_object('id', 'evt_' || md5(%(account)s || ':' || kind || ':' || min(id)), 'type', type,
           'version', 1, 'timestamp', created_at, 'account_id', %(account)s, 'data', CASE WHEN kind = 'usage'
           THEN jsonb_build_object('service', 'metering', 'charges', jsonb_agg(jsonb_build_object(
                'idempotency_key', substr(source_ref, length('charge:metering:') + 1),
                'amount', jsonb_build_object('amount', (-amount)::text, 'currency', amount_currency),
                'description', description) ORDER BY id))
           ELSE jsonb_build_object('amount', jsonb_build_object('amount', max(amount)::text, 'currency', 'USD'))
           END),
       created_at
FROM (SELECT *, CASE kind WHEN 'usage' THEN 'charge.created' ELSE 'topup.credited' END AS type
      FROM accounts_ledgerentry WHERE account_id = %(account)s AND kind IN ('usage', 'online_topup')) AS e
GROUP BY kind, type, created_at, CASE WHEN kind = 'usage' THEN 0 ELSE id END
ORDER BY created_at, min(id)
"""
DELIVERIES_SQL = """
INSERT INTO accounts_eventdelivery (endpoint_id, event_id, status, attempts, next_attempt_at, delivered_at)
SELECT %(endpoint)s, id, 'delivered', 1, created_at, created_at
FROM accounts_webhookevent WHERE account_id = %(account)s ORDER BY id;
INSERT INTO accounts_deliveryattempt (delivery_id, at, status_code, latency_ms, response_excerpt, error)
SELECT id, delivered_at, 200, 42, '{"received": true}', '' FROM accounts_eventdelivery WHERE endpoint_id = %(endpoint)s
"""


def load_webhook_history(account: Account, endpoint) -> None:
    """The events and deliveries of the account's entries so far (load after the history)."""
    with connection.cursor() as cursor:
        cursor.execute(EVENTS_SQL, {"account": account.pk})
        cursor.execute(DELIVERIES_SQL, {"account": account.pk, "endpoint": endpoint.pk})
