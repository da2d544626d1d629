from django.urls import path

from incidents import views

urlpatterns = [
    path("incidents/", views.incident_list, name="incident-list"),
    path("incidents/declare/", views.incident_declare, name="incident-declare"),
    path("incidents/templates/", views.communication_templates, name="communication-templates"),
    path("checklists/", views.ops_checklists, name="ops-checklists"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident-detail"),
    path("incidents/<int:pk>/timeline/", views.incident_timeline, name="incident-timeline"),
    path("incidents/<int:pk>/monitors/", views.incident_monitors, name="incident-monitors"),
    path("incidents/<int:pk>/acknowledge/", views.incident_acknowledge, name="incident-acknowledge"),
    path("incidents/<int:pk>/steps/", views.incident_tick_steps, name="incident-tick-steps"),
    path("incidents/<int:pk>/war-room/", views.incident_war_room, name="incident-war-room"),
    path("incidents/<int:pk>/stakeholders/", views.incident_stakeholder_update, name="incident-stakeholder-update"),
    path("incidents/<int:pk>/updates/", views.incident_post_update, name="incident-post-update"),
    path("incidents/<int:pk>/template/", views.incident_template, name="incident-template"),
    path("incidents/<int:pk>/postmortem/", views.postmortem_edit, name="postmortem"),
    path("incidents/updates/<int:pk>/edit/", views.update_edit, name="update-edit"),
    path("maintenance/new/", views.maintenance_edit, name="maintenance-new"),
    path("maintenance/<int:pk>/", views.maintenance_edit, name="maintenance-edit"),
    path("maintenance/<int:pk>/status/", views.maintenance_status, name="maintenance-status"),
]
