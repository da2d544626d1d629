from django import template

from incidents.models import ComponentStatus

register = template.Library()
_LABELS = dict(ComponentStatus.choices)


@register.filter
def component_status_label(value: str) -> str:
    """'partial_outage' -> 'Partial outage'."""
    return str(_LABELS.get(value, value))
