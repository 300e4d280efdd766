from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillsConfig(AppConfig):
    name = "bills"
    verbose_name = _("Postpaid bills")

    def ready(self):
        from accounts import lifecycle, overview_panels

        from .cycle import refuse_leaving_with_bills
        from .selectors import postpaid_summary

        overview_panels.register("postpaid", postpaid_summary)  # the Overview's bills and Repay panel
        lifecycle.register_type_change_check(refuse_leaving_with_bills)
