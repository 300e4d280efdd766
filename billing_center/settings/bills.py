"""Postpaid bills (the bills app): payment terms and reminders."""

import os

# A bill is due this many days after it is issued.
BILL_PAYMENT_TERMS_DAYS = int(os.environ.get("BILL_PAYMENT_TERMS_DAYS", "15"))
# The customer is reminded once this many days before a bill is due, and once when it is overdue.
BILL_REMINDER_DAYS_BEFORE = int(os.environ.get("BILL_REMINDER_DAYS_BEFORE", "3"))
