"""/api/v1/: the ops API, its OpenAPI document and interactive docs."""

from api.core import api
from api.endpoints import alerting, components, deploys, incidents, monitors, pages, slos

for module in (monitors, components, incidents, deploys, pages, alerting, slos):
    api.add_router("/", module.router)

urlpatterns = api.urls[0]
