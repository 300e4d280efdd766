from django.apps import AppConfig


class BillsConfig(AppConfig):
    name = "bills"
    verbose_name = "Postpaid bills"

    def ready(self):
        from accounts import overview_panels

        from .selectors import postpaid_summary

        overview_panels.register("postpaid", postpaid_summary)  # the Overview's bills and Repay panel
