from django.apps import AppConfig


class TopupsConfig(AppConfig):
    name = "topups"
    verbose_name = "Online top-ups"

    def ready(self):
        from accounts import deposits, low_balance

        from .auto_topup import publish_run
        from .deposits import OnlineTopUps

        deposits.register(OnlineTopUps())
        low_balance.register(publish_run)  # a balance below its auto top-up threshold
