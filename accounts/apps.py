from django.apps import AppConfig
from django.core import checks


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and ledger"

    def ready(self):
        from . import signals  # noqa: F401  (connects the receivers)
        from .checks import currencies_fit_the_ledger

        checks.register(currencies_fit_the_ledger)
