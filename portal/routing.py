from django.urls import path

from core.consumers import LiveConsumer
from statuspage.consumers import StatusConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/status/<slug:slug>/", StatusConsumer.as_asgi()),
]
