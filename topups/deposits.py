"""Online top-ups as a source of money-in records (accounts.deposits)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.deposits import Attention, AwaitingPayment, DepositRecord
from accounts.selectors import within_days
from billing_center.choices import choice_label
from money.formatting import format_money

from .models import AutoTopUp, Refund, TopUp

# What a record shows of a top-up: the page loads no other column.
RECORD_FIELDS = (
    "public_id", "purpose", "is_automatic", "amount", "amount_currency", "credit_amount", "credit_amount_currency",
    "status", "exchange_rate", "created_at",
)  # fmt: skip


def _label(topup) -> str:
    """The status, and what was paid back of it (the same query: refunded is annotated)."""
    if topup.status == TopUp.Status.CREDITED and topup.refunded:
        return _("Refunded") if topup.refunded >= topup.amount.amount else _("Credited, partly refunded")
    return choice_label(topup, "status")


class OnlineTopUps:
    method = "online"
    label = gettext_lazy("Online payment")

    def records(self, account, *, status, first, last):
        topups = TopUp.objects.filter(account=account)
        if status:
            topups = topups.filter(status=status)  # the records page's statuses are a top-up's own
        # What was paid back, per top-up on the page only (a GROUP BY would sum them all first).
        refunded = (
            Refund.objects.filter(topup=OuterRef("pk"), status=Refund.Status.SUCCEEDED)
            .order_by()
            .values("topup")
            .annotate(total=Sum("amount"))
            .values("total")
        )
        return (
            within_days(topups, first, last)
            .only(*RECORD_FIELDS)
            .annotate(at=F("created_at"), refunded=Subquery(refunded))
        )

    def record(self, topup):
        return DepositRecord(
            created_at=topup.created_at,
            reference=topup.reference,
            url=reverse("topups:detail", args=[topup.public_id]),
            method=topup.method,
            amount=topup.amount,
            credited=topup.credit_amount if topup.status == TopUp.Status.CREDITED else None,
            status=topup.status,
            status_label=_label(topup),
            exchange_rate=topup.exchange_rate if topup.is_converted else None,
        )

    def overview(self, account, *, limit):
        """Checkouts still payable, and the latest auto top-up if it failed this week: one query,
        and one more for the auto top-up's settings only when it failed."""
        now = timezone.now()
        since = now - timedelta(minutes=settings.TOPUP_CHECKOUT_TTL_MINUTES)
        topups = TopUp.objects.filter(account=account).filter(
            Q(status=TopUp.Status.PENDING, is_automatic=False, created_at__gte=since)
            | Q(is_automatic=True, created_at__gte=now - timedelta(days=7))
        )
        awaiting, attention, latest_auto_seen = [], [], False
        for t in topups.order_by("-created_at", "-id")[: limit + 5]:
            if not t.is_automatic:
                url, cancel_url = (reverse(name, args=[t.public_id]) for name in ("topups:detail", "topups:cancel"))
                awaiting.append(
                    AwaitingPayment(
                        reference=(_("Online repayment %(reference)s") if t.is_repayment else _("Top-up %(reference)s"))
                        % {"reference": t.reference},
                        url=url,
                        amount=t.amount,
                        cancel_url=cancel_url,
                    )
                )
                continue
            if latest_auto_seen:
                continue
            latest_auto_seen = True  # only the latest auto top-up speaks: a later success clears a failure
            if t.status != TopUp.Status.FAILED:
                continue
            paused_at, card = AutoTopUp.objects.filter(account=account).values_list(
                "paused_at", "payment_method_id"
            ).first() or (None, "")
            if card:
                text = _("Auto top-up %(reference)s of %(amount)s failed: %(reason)s") % {
                    "reference": t.reference,
                    "amount": format_money(t.amount),
                    "reason": _(t.failure_reason),  # ours are catalogued (gettext_noop); a gateway's words stay
                }
                if paused_at:
                    text += " " + _("Auto top-up is paused until you turn it on again.")
                attention.append(Attention(text=text, url=reverse("topups:auto"), link_text=_("Auto top-up")))
        return awaiting[:limit], attention

    def in_flight(self, account):
        return TopUp.objects.filter(account=account, status=TopUp.Status.PENDING).count()
