from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from djmoney.money import Money

from billing_center.errors import error_page, show_on_form, status_for
from billing_center.keyset import Keyset, keyset_page
from billing_center.privacy import mask_phone
from billing_center.responses import see_other
from money.errors import BillingError
from money.formatting import format_money, plain_amount
from money.parsing import parse_code, parse_id

from .alerts import set_alert
from .charts import balance_chart
from .credit_limits import set_limit_alert
from .decorators import customer_required
from .deposits import deposit_records, overview_items
from .exports import records_csv, statement_csv
from .forms import (
    AlertEmailForm,
    AlertPhoneForm,
    AlertSettingsForm,
    DepositFilterForm,
    LimitAlertForm,
    PreferencesForm,
    StatementFilterForm,
)
from .models import AlertRecipient
from .overview_panels import build_panels
from .preferences import set_payment_currency
from .recipients import (
    add_email_recipient,
    add_sms_recipient,
    confirm_sms_recipient,
    remove_recipient,
    resend_confirmation_code,
)
from .selectors import daily_balances, recent_ledger_entries, statement_entries


@require_safe
def home(request):
    if request.user.is_authenticated and request.user.account_id is None and request.user.is_staff:
        return redirect("admin:index")
    return redirect("accounts:overview")


@customer_required
@require_safe  # pages that only show: GET and HEAD
def overview(request, account):
    return _render_overview(request, account)


def _render_overview(request, account, bound_forms: dict | None = None, status: int = 200):
    """The Overview page; after a refused alert change, with that form and its errors."""
    initial = {
        "enabled": account.alert_enabled,
        "threshold": plain_amount(account.alert_threshold_money) if account.alert_threshold is not None else "",
    }
    forms = {
        "alert_form": AlertSettingsForm(currency=account.billing_currency, initial=initial),
        "limit_form": LimitAlertForm(initial={"enabled": account.alert_enabled, "share": account.alert_limit_share}),
        "phone_form": AlertPhoneForm(),
        "email_form": AlertEmailForm(),
        "code_errors": {},
        **(bound_forms or {}),
    }
    can_alert = account.can_alert
    recipients = list(account.alert_recipients.all()) if can_alert else []
    awaiting, attention = overview_items(account, limit=3)
    context = {
        "account": account,
        "alert_refused": status >= 400,  # the page opens at the alert card, on the error
        "can_alert": can_alert,
        "has_confirmed_number": any(r.kind == "sms" and r.is_confirmed for r in recipients),
        "chart": balance_chart(daily_balances(account)),
        "entries": recent_ledger_entries(account),
        "awaiting": awaiting[:3],
        "awaiting_more": len(awaiting) > 3,
        "attention": attention,
        "recipients": recipients,
        "panels": build_panels(account),  # the apps above: a postpaid account's bills
        **forms,
    }
    return render(request, "accounts/overview.html", context, status=status)


@customer_required
@require_POST
def alert_settings(request, account):
    """Every change to the expenditure alert posts here. Success: back to the Overview (303)
    with a message; a refusal: the Overview again with the form's error (400)."""
    action = request.POST.get("action", "")
    handlers = {
        "save": _save_alert,
        "save_limit": _save_limit_alert,
        "add_phone": _add_phone,
        "confirm": _confirm_phone,
        "resend": _resend_code,
        "add_email": _add_email,
        "remove": _remove_recipient,
    }
    if action not in handlers:  # only a forged or outdated form: the product's own 400 page, in the reader's language
        return error_page(request, 400, message=_("This form is out of date. Reload the page and try again."))
    try:
        message = handlers[action](request, account)
    except AlertFormError as exc:
        return _render_overview(request, account, exc.forms, status=exc.status)
    messages.success(request, message, extra_tags="alert-card")  # shown inside the card, where the page lands
    return see_other(reverse("accounts:overview") + "#alert")


class AlertFormError(Exception):
    """A refused alert change: the bound form(s) to show again, and the status of the refusal."""

    def __init__(self, forms: dict, status: int = 400):
        self.forms, self.status = forms, status


def _valid(form, name: str) -> dict:
    if not form.is_valid():
        raise AlertFormError({name: form})
    return form.cleaned_data


def _refused(form, name: str, exc: BillingError):
    return AlertFormError({name: form}, status=show_on_form(form, exc))


def _save_alert(request, account) -> str:
    form = AlertSettingsForm(request.POST, currency=account.billing_currency)
    data = _valid(form, "alert_form")
    try:
        set_alert(account_id=account.pk, enabled=data["enabled"], threshold=data["threshold"], actor=request.user)
    except BillingError as exc:
        raise _refused(form, "alert_form", exc) from exc
    if not data["enabled"]:
        return _("The expenditure alert is off.")
    threshold = format_money(Money(data["threshold"], account.billing_currency))
    message = _("Alert saved: we text you when your balance falls below %(threshold)s.") % {"threshold": threshold}
    if not account.alert_recipients.filter(kind=AlertRecipient.Kind.SMS, confirmed_at__isnull=False).exists():
        return f"{message} {_('Add and confirm a mobile number below: until then nobody is texted.')}"
    if account.balance.amount >= data["threshold"]:
        return message
    if account.last_alert_at:
        now = _(
            "Your balance is already below it, so we text you now "
            "(or, if we texted you in the last 24 hours, once a day has passed)."
        )
    else:
        now = _("Your balance is already below it, so we text you now.")
    return f"{message} {now}"


def _save_limit_alert(request, account) -> str:
    form = LimitAlertForm(request.POST)
    data = _valid(form, "limit_form")
    try:
        account = set_limit_alert(
            account_id=account.pk, enabled=data["enabled"], share=data["share"], actor=request.user
        )
    except BillingError as exc:
        raise _refused(form, "limit_form", exc) from exc
    if not data["enabled"]:
        return _("The credit-limit alert is off.")
    owed = format_money(Money(-account.alert_threshold, account.billing_currency))
    return _("Alert saved: we tell you when you owe more than %(owed)s (%(share)s%% of your credit limit).") % {
        "owed": owed,
        "share": data["share"],
    }


def _add_phone(request, account) -> str:
    form = AlertPhoneForm(request.POST)
    data = _valid(form, "phone_form")
    try:
        recipient = add_sms_recipient(account_id=account.pk, number=data["number"])
    except BillingError as exc:
        raise _refused(form, "phone_form", exc) from exc
    if recipient.is_confirmed:
        return _("%(number)s already receives alerts.") % {"number": mask_phone(recipient.address)}
    return _("We sent a 6-digit code to %(number)s. Enter it below to confirm the number.") % {
        "number": mask_phone(recipient.address)
    }


def _recipient_id(request) -> int:
    try:  # an id in a database id's range: anything else would be a 500 on PostgreSQL
        return parse_id(request.POST.get("recipient", ""), what="recipient")
    except BillingError:
        raise AlertFormError({"code_errors": {0: _("Choose a recipient.")}}) from None


def _code_error(recipient_id: int, exc: BillingError) -> AlertFormError:
    return AlertFormError({"code_errors": {recipient_id: exc.message}}, status=status_for(exc))


def _confirm_phone(request, account) -> str:
    recipient_id = _recipient_id(request)
    try:
        code = parse_code(request.POST.get("code", ""), length=6, message=_("Enter the 6 digits we sent."))
        recipient = confirm_sms_recipient(account_id=account.pk, recipient_id=recipient_id, code=code)
    except BillingError as exc:
        raise _code_error(recipient_id, exc) from exc
    return _("%(number)s is confirmed: alerts will be sent there.") % {"number": mask_phone(recipient.address)}


def _resend_code(request, account) -> str:
    recipient_id = _recipient_id(request)
    try:
        recipient = resend_confirmation_code(account_id=account.pk, recipient_id=recipient_id)
    except BillingError as exc:
        raise _code_error(recipient_id, exc) from exc
    return _("We sent a new code to %(number)s.") % {"number": mask_phone(recipient.address)}


def _add_email(request, account) -> str:
    form = AlertEmailForm(request.POST)
    data = _valid(form, "email_form")
    try:
        recipient = add_email_recipient(account_id=account.pk, email=data["email"])
    except BillingError as exc:
        raise _refused(form, "email_form", exc) from exc
    return _("Alerts will also be e-mailed to %(address)s.") % {"address": recipient.address}


def _remove_recipient(request, account) -> str:
    recipient_id = _recipient_id(request)
    recipient = account.alert_recipients.filter(pk=recipient_id).first()
    try:
        remove_recipient(account_id=account.pk, recipient_id=recipient_id)
    except BillingError as exc:
        raise _code_error(recipient_id, exc) from exc
    return _("%(recipient)s no longer receives alerts.") % {"recipient": recipient.display}


@customer_required
@require_safe  # pages that only show: GET and HEAD
def alert_history(request, account):
    alerts = Keyset(account.balance_alerts.all())
    page = keyset_page(alerts, request.GET, size=20)
    prefetch_related_objects(page.object_list, "sms", "emails")
    return render(request, "accounts/alerts.html", {"account": account, "page": page})


def safe_next(request, fallback: str) -> str:
    """Our own path from ?next=, or the fallback: never another site, scheme or //host."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if (
        target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and url_has_allowed_host_and_scheme(target, allowed_hosts=set(), require_https=False)
    ):
        return target
    return fallback


@customer_required
@require_http_methods(["GET", "POST"])
def preferences(request, account):
    next_url = safe_next(request, reverse("topups:pay"))
    form = PreferencesForm(request.POST or None, initial={"payment_currency": account.pay_currency})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                account = set_payment_currency(
                    account_id=account.pk, currency=form.cleaned_data["payment_currency"], actor=request.user
                )
                saved = _("Saved. You now pay online top-ups in %(currency)s.")
                messages.success(request, saved % {"currency": account.pay_currency})
                return redirect(next_url)
            except BillingError as exc:
                form.add_error("payment_currency", exc.message)
        status = 400
    return render(
        request, "accounts/preferences.html", {"account": account, "form": form, "next": next_url}, status=status
    )


@customer_required
@require_safe  # pages that only show: GET and HEAD
def statement(request, account):
    """The statement, newest first, a page at a time from a cursor (billing_center.keyset)."""
    filters = StatementFilterForm(request.GET or None)
    entries = statement_entries(account, filters.cleaned_data if filters.is_valid() else {})
    if request.GET.get("format") == "csv" and not filters.errors:
        return statement_csv(entries, filters.export_filename("statement", account.pk))
    page = keyset_page(entries, request.GET, size=25)
    context = {"account": account, "page": page, "filters": filters, "query": page.query}
    return render(
        request, "accounts/statement.html", context, status=400 if filters.is_bound and filters.errors else 200
    )


@customer_required
@require_safe  # pages that only show: GET and HEAD
def records(request, account):
    """Top-up records: online top-ups and bank-transfer tickets, one list."""
    filters = DepositFilterForm(request.GET or None)
    found = deposit_records(account, filters.cleaned_data if filters.is_valid() else {})
    if request.GET.get("format") == "csv" and not filters.errors:
        filename = filters.export_filename("topups", account.pk)
        return records_csv(found, billing_currency=account.billing_currency, filename=filename)
    page = keyset_page(found, request.GET, size=20)
    context = {"account": account, "page": page, "filters": filters, "query": page.query}
    return render(request, "accounts/records.html", context, status=400 if filters.is_bound and filters.errors else 200)
