from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import monitor_views, ops_views, staff_views, views
from portal.login import LoginForm

admin.site.site_header = "Vigil administration"
admin.site.site_title = "Vigil admin"
admin.site.index_title = "Monitors, incidents, pages and alerting"

urlpatterns = [
    path("health", views.health, name="health"),
    path("health/db", views.health_db, name="health-db"),
    path("health/cache", views.health_cache, name="health-cache"),
    path("ready", views.ready, name="ready"),
    path("metrics", views.metrics_view, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=LoginForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", staff_views.home, name="home"),
    path("dashboard/", staff_views.dashboard, name="dashboard"),
    path("monitors/", staff_views.monitor_list, name="monitor-list"),
    path("monitors/<int:pk>/", monitor_views.monitor_detail, name="monitor-detail"),
    path("monitors/<int:pk>/check-now/", monitor_views.monitor_check_now, name="monitor-check-now"),
    path("monitors/<int:pk>/check-result/", monitor_views.monitor_check_result, name="monitor-check-result"),
    path("dashboard/panels/", staff_views.dashboard_panels, name="dashboard-panels"),
    path("dashboard/alerts/<int:pk>/acknowledge/", staff_views.dashboard_acknowledge, name="dashboard-acknowledge"),
    path("ops/", ops_views.operations, name="operations"),
    path("checklist/", ops_views.checklist, name="checklist"),
    path("demo/target", views.demo_target, name="demo-target"),
    path("", include("monitors.urls")),
    path("", include("incidents.urls")),
    path("", include("statuspage.urls")),
    path("", include("alerting.urls")),
    path("", include("slo.urls")),
    path("api/v1/", include(("api.urls", "api-v1"))),
    path("admin/", admin.site.urls),
]

handler403 = "portal.staff_views.forbidden"
handler500 = "portal.staff_views.server_error"
