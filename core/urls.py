from django.contrib.auth import views as auth_views
from django.urls import path

from core import views
from core.login import LoginForm

urlpatterns = [
    path("health", views.health, name="health"),
    path("health/db", views.health_db, name="health-db"),
    path("health/cache", views.health_cache, name="health-cache"),
    path("ready", views.ready, name="ready"),
    path("metrics", views.metrics_view, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True, authentication_form=LoginForm), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("demo/target", views.demo_target, name="demo-target"),
    # Browsers ask for /favicon.ico on pages without an icon link (the admin, JSON documents).
    path("favicon.ico", views.favicon, name="favicon"),
]
