from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("alert/", views.alert_settings, name="alert"),
    path("alerts/", views.alert_history, name="alerts"),
    path("statement/", views.statement, name="statement"),
    path("topups/", views.records, name="records"),
]
