from django.urls import path

from portal.consumers import IncidentConsumer, LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/incidents/<int:incident_id>/", IncidentConsumer.as_asgi()),
]
