"""Words Django's admin templates show (to screen readers: app_list.html's table headings) that
Django's own zh_Hans catalogue does not translate. Marked here so that `update_catalogues` puts
them in the finance catalogue, which translates them for every admin page."""

from django.utils.translation import gettext_noop

APP_LIST_HEADINGS = (gettext_noop("Model name"), gettext_noop("Add link"), gettext_noop("Change or view list link"))
