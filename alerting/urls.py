from django.urls import path

from alerting import integrations, views

urlpatterns = [
    path("alerts/ack/<str:token>/", views.acknowledge, name="alert-ack"),
    path("api/v1/integrations/alertmanager", integrations.alertmanager_webhook, name="integration-alertmanager"),
    path("api/v1/integrations/grafana", integrations.grafana_webhook, name="integration-grafana"),
    path("api/v1/integrations/sentry/<int:pk>", integrations.sentry_webhook, name="integration-sentry"),
    path("api/v1/integrations/pagerduty/<int:pk>", integrations.pagerduty_webhook, name="integration-pagerduty"),
]
