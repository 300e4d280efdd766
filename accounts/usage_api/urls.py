from django.urls import path, re_path

from . import views as api

app_name = "api"
urlpatterns = [
    path("charges", api.post_charge, name="charges"),
    path("charges/batch", api.post_charge_batch, name="charges_batch"),
    path("accounts/<int:account_id>/balance", api.account_balance, name="balance"),
    # The contract (accounts.usage_api.openapi): public, no token.
    path("openapi.json", api.openapi_json, name="openapi"),
    path("docs", api.docs_page, name="docs"),
    re_path(r"^(?P<rest>.*)$", api.not_found),  # JSON, like every other API answer
]
