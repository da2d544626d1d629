from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Vigil administration"
admin.site.site_title = "Vigil admin"
admin.site.index_title = "Monitors, incidents, pages and alerting"

urlpatterns = [
    path("", include("core.urls")),
    path("", include("dashboard.urls")),
    path("", include("monitors.urls")),
    path("", include("incidents.urls")),
    path("", include("statuspage.urls")),
    path("", include("alerting.urls")),
    path("", include("slo.urls")),
    path("api/v1/", include(("api.urls", "api-v1"))),
    path("admin/", admin.site.urls),
]

handler403 = "dashboard.views.forbidden"
handler500 = "dashboard.views.server_error"
