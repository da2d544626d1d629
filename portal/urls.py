from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import staff_views, views

admin.site.site_header = "Vigil administration"
admin.site.site_title = "Vigil admin"
admin.site.index_title = "Monitors, incidents, pages and alerting"

urlpatterns = [
    path("health", views.health, name="health"),
    path("health/db", views.health_db, name="health-db"),
    path("health/cache", views.health_cache, name="health-cache"),
    path("ready", views.ready, name="ready"),
    path("metrics", views.metrics_view, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", staff_views.home, name="home"),
    path("dashboard/", staff_views.dashboard, name="dashboard"),
    path("monitors/", staff_views.monitor_list, name="monitor-list"),
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
