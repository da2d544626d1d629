from django.urls import path

from monitors import views

urlpatterns = [
    path("ping/<uuid:token>", views.ping, name="ping"),
    path("ping/<uuid:token>/start", views.ping, {"signal": "start"}, name="ping-start"),
    path("ping/<uuid:token>/fail", views.ping, {"signal": "fail"}, name="ping-fail"),
    path("ping/<uuid:token>/<int:exit_code>", views.ping, {"signal": "exit"}, name="ping-exit"),
]
