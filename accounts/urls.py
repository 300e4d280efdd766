from django.urls import path

from . import enterprise_views, views

app_name = "accounts"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("alert/", views.alert_settings, name="alert"),
    path("alerts/", views.alert_history, name="alerts"),
    path("statement/", views.statement, name="statement"),
    path("topups/", views.records, name="records"),
    path("enterprise/", enterprise_views.enterprise, name="enterprise"),
    path("enterprise/allocate/", enterprise_views.allocate_funds, name="allocate"),
    path("enterprise/reclaim/", enterprise_views.reclaim_funds, name="reclaim"),
    path("enterprise/member-settings/", enterprise_views.member_settings, name="member_settings"),
    path("funds/alert-copy/", enterprise_views.member_alert_copy, name="member_alert_copy"),
]
