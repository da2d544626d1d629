"""Starting texts for incident updates, one per status; placeholders are filled in."""

from __future__ import annotations

from datetime import datetime

from incidents.models import Incident
from lib.durations import format_duration
from lib.text import clean

TEMPLATES = {
    "investigating": "We are investigating reports of problems with {components}. Next update within 30 minutes.",
    "identified": "We have identified the cause of the problems with {components} and are working on a fix.",
    "monitoring": "A fix has been applied for {components}. We are monitoring the results.",
    "resolved": "This incident has been resolved. {components} are operating normally. It lasted {duration}.",
}


def with_template(typed: str, filled: str) -> str:
    """The message after choosing a template: the template's text, below whatever was
    already typed (choosing a template never throws words away)."""
    typed = typed.rstrip()
    if not typed or typed == filled or not filled:
        return filled or typed
    if filled in typed:
        return typed
    return f"{typed}\n\n{filled}"


def fill(status: str, incident: Incident | None, now: datetime) -> str:
    template = TEMPLATES.get(status, "")
    if incident is None:
        names, duration, title = "the affected services", "", ""
    else:
        names = ", ".join(incident.impacts.values_list("component__name", flat=True)) or "the affected services"
        duration = format_duration((now - incident.started_at).total_seconds())
        title = incident.title
    return clean(template.format(components=names, duration=duration, title=title), multiline=True)
