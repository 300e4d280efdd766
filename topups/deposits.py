"""Online top-ups as a source of money-in records (accounts.deposits)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F, Value
from django.urls import reverse
from django.utils import timezone

from accounts.deposits import AwaitingPayment, DepositRecord
from accounts.selectors import within_days

from .models import TopUp


class OnlineTopUps:
    method = "online"
    label = "Online payment"

    def keys(self, account, *, status, first, last):
        topups = TopUp.objects.filter(account=account)
        if status:
            topups = topups.filter(status=status)  # the records page's statuses are a top-up's own
        topups = within_days(topups, first, last).annotate(at=F("created_at"), kind=Value(self.method))
        return topups.order_by().values_list("at", "pk", "kind")

    def load(self, pks):
        return {
            t.pk: DepositRecord(
                created_at=t.created_at,
                reference=t.reference,
                url=reverse("topups:detail", args=[t.public_id]),
                method=t.method,
                amount=t.amount,
                credited=t.credit_amount if t.status == TopUp.Status.CREDITED else None,
                status=t.status,
                status_label=t.get_status_display(),
                exchange_rate=t.exchange_rate if t.is_converted else None,
            )
            for t in TopUp.objects.filter(pk__in=pks)
        }

    def awaiting(self, account, *, limit):
        """Pending top-ups whose checkout can still be paid at the gateway."""
        since = timezone.now() - timedelta(minutes=settings.TOPUP_CHECKOUT_TTL_MINUTES)
        topups = TopUp.objects.filter(account=account, status=TopUp.Status.PENDING, created_at__gte=since)
        return [
            AwaitingPayment(
                reference=f"Top-up {t.reference}", url=reverse("topups:detail", args=[t.public_id]), amount=t.amount
            )
            for t in topups.order_by("-created_at", "-id")[:limit]
        ]

    def in_flight(self, account):
        return TopUp.objects.filter(account=account, status=TopUp.Status.PENDING).count()
