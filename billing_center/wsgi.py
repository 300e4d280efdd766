import os

from django.core.wsgi import get_wsgi_application

# A server started without DJANGO_SETTINGS_MODULE gets production settings, which refuse
# to start without real secrets, never the local defaults with DEBUG on.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_center.settings.production")
site = get_wsgi_application()

from .machine_routes import route_machines  # noqa: E402 (reads the settings get_wsgi_application set up)

application = route_machines(site)
