from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts and ledger")

    def ready(self):
        from . import signals  # noqa: F401  (connects the receivers)
        from .checks import currencies_fit_the_ledger

        checks.register(currencies_fit_the_ledger)
