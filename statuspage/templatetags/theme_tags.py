"""Values that go into a status page's CSS (templates/statuspage/theme.css)."""

from __future__ import annotations

import re

from django import template

from statuspage.models import HEX_COLOUR, StatusPage

register = template.Library()
_COLOUR = re.compile(HEX_COLOUR.regex.pattern)
_DEFAULT = str(StatusPage._meta.get_field("brand_colour").default)


@register.filter
def css_colour(value: object) -> str:
    """The brand colour when it is #rrggbb, else the default: CSS gets nothing but a colour,
    even from a row written around the model's validators."""
    return value if isinstance(value, str) and _COLOUR.fullmatch(value) else _DEFAULT
