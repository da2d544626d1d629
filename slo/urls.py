from django.urls import path

from slo import views

urlpatterns = [
    path("slos/", views.slo_list, name="slo-list"),
    path("digest/subscription/", views.digest_subscription, name="digest-subscription"),
    path("slos/<int:pk>/", views.slo_detail, name="slo-detail"),
    path("reports/slo/<str:month>/", views.monthly_report, name="slo-report"),
    path("reports/slo/<str:month>/report.csv", views.monthly_report, {"fmt": "csv"}, name="slo-report-csv"),
    path("reports/slo/<str:month>/report.json", views.monthly_report, {"fmt": "json"}, name="slo-report-json"),
]
