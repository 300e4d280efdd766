"""Top-ups and what follows them. One package so that no module grows past a screenful of
rules; every model keeps its app label and table, and is imported here for Django."""

from .after_payment import Dispute, Refund
from .auto import AutoTopUp
from .core import HistoricalRate, RateSheet, SandboxCheckout, TopUp, WebhookDelivery

__all__ = [
    "AutoTopUp",
    "Dispute",
    "HistoricalRate",
    "RateSheet",
    "Refund",
    "SandboxCheckout",
    "TopUp",
    "WebhookDelivery",
]
