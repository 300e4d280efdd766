"""The periodic tasks celery beat runs (names are the tasks' stable `name=`)."""

CELERY_BEAT_SCHEDULE = {
    # Ask the gateway about late top-ups; close those abandoned past TOPUP_EXPIRE_AFTER_HOURS.
    "reconcile-pending-topups": {"task": "topups.tasks.reconcile_pending_topups", "schedule": 60.0},
    # Webhook deliveries stored but not applied a minute later (a lost message, a dead worker).
    "sweep-deliveries": {"task": "topups.tasks.sweep_deliveries", "schedule": 60.0},
    "resend-pending-emails": {"task": "accounts.tasks.resend_pending_emails", "schedule": 120.0},
    # Pulls rates from a provider backend (a no-op for finance's own sheet).
    "refresh-exchange-rates": {"task": "topups.tasks.refresh_exchange_rates", "schedule": 3600.0},
    # Lets /healthz tell whether a worker is consuming the queue.
    "worker-heartbeat": {"task": "accounts.tasks.record_worker_heartbeat", "schedule": 30.0},
    # Low-balance alerts and auto top-ups a lost task missed (alerts also what the 24-hour limit
    # deferred), and e-mails and SMS whose task was lost (broker outage, killed worker).
    "sweep-balance-alerts": {"task": "accounts.tasks.sweep_balance_alerts", "schedule": 300.0},
    "sweep-auto-topups": {"task": "topups.tasks.sweep_auto_topups", "schedule": 300.0},
    "resend-pending-sms": {"task": "accounts.tasks.resend_pending_sms", "schedule": 120.0},
    # Flags transfer tickets due soon / overdue and e-mails finance once per state.
    "flag-ticket-deadlines": {"task": "tickets.tasks.flag_ticket_deadlines", "schedule": 300.0},
    # Closes the last finished month into one bill per postpaid account (idempotent; hourly so a
    # missed run is caught up), then reminds customers of bills due soon or overdue.
    "close-billing-month": {"task": "bills.tasks.close_billing_month", "schedule": 3600.0},
    "send-bill-reminders": {"task": "bills.tasks.send_bill_reminders", "schedule": 3600.0},
    "purge-held-certificates": {"task": "tickets.tasks.purge_held_certificates", "schedule": 3600.0},
    # Unverified webhook posts, past REJECTED_DELIVERY_KEEP_DAYS.
    "purge-rejected-deliveries": {"task": "topups.tasks.purge_rejected_deliveries", "schedule": 3600.0},
    # E-mails an enterprise master once per member and month whose usage passed its budget.
    "flag-budget-overruns": {"task": "accounts.tasks.flag_budget_overruns", "schedule": 300.0},
    # Outbound webhooks whose wake-up task was lost, or whose retry is due.
    "sweep-webhooks": {"task": "accounts.tasks.sweep_webhooks", "schedule": 60.0},
}

# Any number of beat processes may run (one per node): each entry is sent once per period,
# claimed in the database first (billing_center.scheduler).
CELERY_BEAT_SCHEDULER = "billing_center.scheduler:OncePerPeriodScheduler"
