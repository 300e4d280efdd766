from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.i18n import JavaScriptCatalog

from accounts.language import SignInView, reader_settings
from accounts.views import home, preferences
from topups import webhooks

from .admin_home import FinanceAdminSite
from .admin_login import AdminLoginForm
from .health import healthz
from .metrics import metrics_view

# Finance and admin users sign in to admin with a password *and* a one-time code from their
# authenticator app (django-otp TOTP); without a verified device admin treats them as non-staff.
# The home page starts with what finance has to do (billing_center.admin_home).
admin.site.__class__ = FinanceAdminSite
admin.site.login_form = AdminLoginForm
admin.site.site_header = _("Billing Center — finance")
admin.site.site_title = _("Billing Center admin")

urlpatterns = [
    path("", home, name="home"),
    path("login/", SignInView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/preferences/", preferences, name="preferences"),
    # The reader's language (open before sign-in: the header's switch) and time zone (accounts.language).
    path("billing/language/", reader_settings, name="reader_settings"),
    # static/js's messages in the page's language (djangojs catalogues).
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("billing/", include("accounts.urls")),
    path("billing/", include("bills.urls")),
    path("billing/", include("topups.urls")),
    path("billing/", include("tickets.urls")),
    path("billing/developers/webhooks/", include("accounts.outbound_webhooks.urls")),
    path("webhooks/<slug:gateway_name>/", webhooks.payment_webhook, name="payment_webhook"),
    # Without its slash too: a gateway does not follow APPEND_SLASH's redirect with its POST, and would lose them all.
    path("webhooks/<slug:gateway_name>", webhooks.payment_webhook, name="payment_webhook_without_slash"),
    path("api/v1/", include("accounts.usage_api.urls")),
    path("sandbox-gateway/", include("topups.gateways.sandbox_urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),  # Prometheus; who may read it: billing_center.metrics
    path("admin/", admin.site.urls),
]

handler400 = "billing_center.errors.bad_request"
handler403 = "billing_center.errors.permission_denied"
handler404 = "billing_center.errors.page_not_found"
handler500 = "billing_center.errors.server_error"
