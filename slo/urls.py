from django.urls import path

from slo import views

urlpatterns = [
    path("slos/", views.slo_list, name="slo-list"),
    path("slos/<int:pk>/", views.slo_detail, name="slo-detail"),
]
