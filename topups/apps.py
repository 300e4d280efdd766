from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TopupsConfig(AppConfig):
    name = "topups"
    verbose_name = _("Online top-ups")

    def ready(self):
        from accounts import deposits, low_balance

        from .auto_topup import publish_run
        from .deposits import OnlineTopUps

        deposits.register(OnlineTopUps())
        low_balance.register(publish_run)  # a balance below its auto top-up threshold
