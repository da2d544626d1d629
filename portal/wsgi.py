"""WSGI entry point (gunicorn) for HTTP."""

from portal.boot import load_settings_or_exit

load_settings_or_exit()

from django.core.wsgi import get_wsgi_application  # noqa: E402

from core.body_limit import BodyLimitWSGI  # noqa: E402

application = BodyLimitWSGI(get_wsgi_application())
