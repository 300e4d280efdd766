from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and ledger"

    def ready(self):
        from billing_center.celery import ensure_broker_folders

        from . import signals  # noqa: F401  (connects the receivers)

        ensure_broker_folders()
