from django.urls import path

from alerting import views

urlpatterns = [path("alerts/ack/<str:token>/", views.acknowledge, name="alert-ack")]
