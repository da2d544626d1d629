from django.urls import path

from dashboard import board_views, docs_views, incident_views, integration_views, monitor_form, monitor_views, ops_views, setup_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("monitors/", views.monitor_list, name="monitor-list"),
    path("monitors/new/", monitor_form.monitor_edit, name="monitor-new"),
    path("monitors/test/", monitor_form.monitor_test, name="monitor-test"),
    path("monitors/<int:pk>/", monitor_views.monitor_detail, name="monitor-detail"),
    path("monitors/<int:pk>/edit/", monitor_form.monitor_edit, name="monitor-edit"),
    path("monitors/<int:pk>/action/", monitor_form.monitor_action, name="monitor-action"),
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
    path("setup/", setup_views.setup, name="setup"),
    path("dashboards/<slug:slug>/", board_views.board, name="pack-dashboard"),
    path("docs/", docs_views.docs_index, name="docs-index"),
    path("docs/<slug:name>/", docs_views.docs_page, name="docs-page"),
]
