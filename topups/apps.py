from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TopupsConfig(AppConfig):
    name = "topups"
    verbose_name = _("Online top-ups")

    def ready(self):
        from accounts import deposits, low_balance, promised

        from .auto_topup import publish_run
        from .deposits import OnlineTopUps
        from .disputes import held_open
        from .refunds import not_yet_debited

        deposits.register(OnlineTopUps())
        low_balance.register(publish_run)  # a balance below its auto top-up threshold
        promised.register(not_yet_debited)  # refunds asked of the gateway, debited once they succeed
        promised.register(held_open)  # disputes held open, debited if they are lost
