import os

from django.core.wsgi import get_wsgi_application

# A server started without DJANGO_SETTINGS_MODULE gets production settings, which refuse
# to start without real secrets, never the local defaults with DEBUG on.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "billing_center.settings.production")
application = get_wsgi_application()
