from django.urls import path

from dashboard import incident_views, integration_views, monitor_views, ops_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("monitors/", views.monitor_list, name="monitor-list"),
    path("monitors/<int:pk>/", monitor_views.monitor_detail, name="monitor-detail"),
    path("monitors/<int:pk>/check-now/", monitor_views.monitor_check_now, name="monitor-check-now"),
    path("monitors/<int:pk>/check-result/", monitor_views.monitor_check_result, name="monitor-check-result"),
    path("dashboard/panels/", views.dashboard_panels, name="dashboard-panels"),
    path("dashboard/alerts/<int:pk>/acknowledge/", views.dashboard_acknowledge, name="dashboard-acknowledge"),
    path("incidents/<int:pk>/commander/", incident_views.incident_commander, name="incident-commander"),
    path("ops/", ops_views.operations, name="operations"),
    path("ops/events/<int:pk>/retry/", ops_views.retry_event, name="event-retry"),
    path("checklist/", ops_views.checklist, name="checklist"),
    path("integrations/", integration_views.integration_list, name="integration-list"),
    path("integrations/<int:pk>/token/", integration_views.integration_issue_token, name="integration-issue-token"),
]
