"""URLconf for a request whose Host is a status page's own domain (status.example.com/)."""

from django.urls import path

from core import views as portal_views
from statuspage.urls import page_patterns

urlpatterns = [
    path("health", portal_views.health),
    *page_patterns("", "-domain"),
    # Staff pages stay on the portal's own host; everything else here is the page.
]
