"""Online top-ups as a source of money-in records (accounts.deposits)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F, OuterRef, Q, Subquery, Sum, Value
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.deposits import Attention, AwaitingPayment, DepositRecord
from accounts.selectors import within_days
from money.formatting import format_money

from .models import AutoTopUp, TopUp


def _label(topup) -> str:
    """The status, and what was paid back of it (the same query: refunded is annotated)."""
    if topup.status == TopUp.Status.CREDITED and topup.refunded:
        return _("Refunded") if topup.refunded >= topup.amount.amount else _("Credited, partly refunded")
    return topup.get_status_display()


class OnlineTopUps:
    method = "online"
    label = gettext_lazy("Online payment")

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
                status_label=_label(t),
                exchange_rate=t.exchange_rate if t.is_converted else None,
            )
            for t in TopUp.objects.filter(pk__in=pks).annotate(
                refunded=Sum("refunds__amount", filter=Q(refunds__status="succeeded"))
            )
        }

    def overview(self, account, *, limit):
        """Checkouts still payable, and the latest auto top-up if it failed this week: one query."""
        now = timezone.now()
        since = now - timedelta(minutes=settings.TOPUP_CHECKOUT_TTL_MINUTES)
        auto = AutoTopUp.objects.filter(account_id=OuterRef("account_id"))
        topups = (
            TopUp.objects.filter(account=account)
            .filter(
                Q(status=TopUp.Status.PENDING, is_automatic=False, created_at__gte=since)
                | Q(is_automatic=True, created_at__gte=now - timedelta(days=7))
            )
            .annotate(
                auto_paused=Subquery(auto.values("paused_at")[:1]),
                auto_card=Subquery(auto.values("payment_method_id")[:1]),
            )
        )
        awaiting, attention, latest_auto_seen = [], [], False
        for t in topups.order_by("-created_at", "-id")[: limit + 5]:
            if not t.is_automatic:
                url, cancel_url = (reverse(name, args=[t.public_id]) for name in ("topups:detail", "topups:cancel"))
                awaiting.append(
                    AwaitingPayment(
                        reference=_("Top-up %(reference)s") % {"reference": t.reference},
                        url=url,
                        amount=t.amount,
                        cancel_url=cancel_url,
                    )
                )
                continue
            if latest_auto_seen:
                continue
            latest_auto_seen = True  # only the latest auto top-up speaks: a later success clears a failure
            if t.status == TopUp.Status.FAILED and t.auto_card:
                text = _("Auto top-up %(reference)s of %(amount)s failed: %(reason)s") % {
                    "reference": t.reference,
                    "amount": format_money(t.amount),
                    "reason": _(t.failure_reason),  # ours are catalogued (gettext_noop); a gateway's words stay
                }
                if t.auto_paused:
                    text += " " + _("Auto top-up is paused until you turn it on again.")
                attention.append(Attention(text=text, url=reverse("topups:auto"), link_text=_("Auto top-up")))
        return awaiting[:limit], attention

    def in_flight(self, account):
        return TopUp.objects.filter(account=account, status=TopUp.Status.PENDING).count()
