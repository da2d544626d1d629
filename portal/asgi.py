"""ASGI entry point (granian in the Procfile; daphne works too): HTTP and the authenticated websocket endpoint /ws/."""

import sys

from portal.boot import load_settings_or_exit

load_settings_or_exit()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

from core.body_limit import BodyLimitASGI  # noqa: E402

if "daphne.server" in sys.modules:  # served by daphne: refuse big bodies before daphne buffers them
    from core.daphne_body_limit import install as install_daphne_body_limit

    install_daphne_body_limit()

django_http_app = get_asgi_application()  # sets Django up: the imports below need the app registry

from monitors.ping_asgi import PingASGI  # noqa: E402
from statuspage.files import StatusFilesASGI  # noqa: E402

# Public status page documents and heartbeat pings are answered before Django's handler runs.
django_asgi_app = BodyLimitASGI(PingASGI(StatusFilesASGI(django_http_app)))

from portal.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
