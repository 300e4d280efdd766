"""Outbound webhooks (accounts.outbound_webhooks): where they may go, how hard we try."""

from .environment import env, env_bool, env_list

# Endpoints must use https (production refuses to start without it).
WEBHOOK_REQUIRE_HTTPS = env_bool("WEBHOOK_REQUIRE_HTTPS", True)
# Tests deliver to a receiver on 127.0.0.1 over http; never in production.
WEBHOOK_ALLOW_LOOPBACK = env_bool("WEBHOOK_ALLOW_LOOPBACK", False)
# Seconds to wait after each failed attempt: about 2.8 days in all, then the delivery has failed
# and the endpoint is disabled (its owner is e-mailed).
DEFAULT_RETRY_DELAYS = "5,30,120,600,1800,3600,7200,14400,28800,43200,57600,86400"
WEBHOOK_RETRY_DELAYS = [int(seconds) for seconds in env_list("WEBHOOK_RETRY_DELAYS", DEFAULT_RETRY_DELAYS)]
WEBHOOK_CONNECT_TIMEOUT = float(env("WEBHOOK_CONNECT_TIMEOUT", "3"))
WEBHOOK_READ_TIMEOUT = float(env("WEBHOOK_READ_TIMEOUT", "5"))
# One attempt, connect to the last byte read, whatever the receiver's pace; below the endpoint's lease (60 s).
WEBHOOK_ATTEMPT_SECONDS = min(float(env("WEBHOOK_ATTEMPT_SECONDS", "15")), 45.0)
WEBHOOK_RESPONSE_LIMIT = 4096  # bytes of a response read; 500 of them kept in the log
WEBHOOK_SECRET_OVERLAP_HOURS = 24  # a rotated secret keeps signing (beside the new one) this long
WEBHOOK_ENDPOINTS_PER_ACCOUNT = 10
WEBHOOK_DELIVERIES_PER_RUN = 50  # one task delivers at most this many, then hands on
