"""The storm at CI size: notifications, charges and finance confirmations at once, over HTTP.

The full size runs by hand: `python -m tests.reliability.storm` (see its docstring).
"""

from tests.reliability.processes import Gunicorn, RedisServer, Workers, service_env
from tests.reliability.storm import SMALL, STRIPE_SECRET, prepare, run, summary_line, verify


def test_a_storm_of_duplicated_shuffled_notifications_credits_every_payment_once(database_url):
    plan = prepare(SMALL)
    with RedisServer() as redis:
        env = service_env(
            database_url=database_url,
            broker_url=redis.url,  # two workers credit what the webhook stores, in batches
            STRIPE_SECRET_KEY="sk_test_storm",
            STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
        )
        with Gunicorn(env, workers=2, threads=4) as server, Workers(env, 2):
            outcome = run(plan, server.url)

    figures = verify(plan, outcome)  # raises on the first broken promise, with the evidence

    print(summary_line(figures, SMALL))
    assert figures["duplicates_rejected"] >= SMALL.deliveries * SMALL.duplicates
    assert figures["balances_checked"] == SMALL.accounts
