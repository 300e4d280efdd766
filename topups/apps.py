from django.apps import AppConfig


class TopupsConfig(AppConfig):
    name = "topups"
    verbose_name = "Online top-ups"

    def ready(self):
        from accounts import deposits

        from .deposits import OnlineTopUps

        deposits.register(OnlineTopUps())
