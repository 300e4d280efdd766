from django.urls import path, re_path

from . import views as api

app_name = "api"
urlpatterns = [
    path("charges", api.post_charge, name="charges"),
    path("charges/batch", api.post_charge_batch, name="charges_batch"),
    path("accounts/<int:account_id>/balance", api.account_balance, name="balance"),
    re_path(r"^(?P<rest>.*)$", api.not_found),  # JSON, like every other API answer
]
