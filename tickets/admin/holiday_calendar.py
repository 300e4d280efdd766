"""Finance's holiday calendar in Django admin: next year's public holidays and weekend make-up
working days, entered when the State Council publishes them; the deadlines use them."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing_center.admin_base import HistoryAdmin
from billing_center.text import PlainTextField

from ..models import CalendarDay
from ..working_days import next_year_unentered


def calendar_warning(user, *, now=None) -> dict:
    """What the deadline pages say while next year's calendar is empty (nothing once it has days),
    with a link to the calendar for those who may open it."""
    year = next_year_unentered(timezone.localdate(now))
    if year is None:
        return {}
    text = _(
        "No public holidays or make-up working days are entered for %(year)s yet: deadlines in %(year)s "
        "follow the holidays package's estimate, without the make-up working days. Enter the official "
        "days once the State Council publishes them."
    ) % {"year": year}
    context = {"calendar_warning": text}
    if user.has_perm("tickets.view_calendarday"):
        context["calendar_url"] = reverse("admin:tickets_calendarday_changelist")
        context["calendar_link"] = _("Open the holiday calendar")
    return context


class CalendarDayForm(forms.ModelForm):
    class Meta:
        model = CalendarDay
        fields = ("date", "kind", "name")
        field_classes = {"name": PlainTextField}  # a holiday's name as text: no control or direction characters


@admin.register(CalendarDay)
class CalendarDayAdmin(HistoryAdmin):
    form = CalendarDayForm
    list_display = ("date", "weekday", "kind", "name", "created_by")
    list_filter = ("kind",)
    search_fields = ("name",)
    date_hierarchy = "date"
    fields = ("date", "kind", "name")
    ordering = ("-date",)

    @admin.display(description=gettext_lazy("Weekday"), ordering="date")
    def weekday(self, obj):
        return WEEKDAYS[obj.date.weekday()]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        obj._history_user = request.user
        super().save_model(request, obj, form, change)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**calendar_warning(request.user), **(extra_context or {})})
