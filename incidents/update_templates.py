"""Starting texts for incident updates, per audience (public, internal) and status; placeholders
are filled in. Teams edit them on /incidents/templates/ (CommunicationTemplate rows); the
built-in texts below are the defaults."""

from __future__ import annotations

import string
from datetime import datetime

from incidents.models import CommunicationTemplate, Incident
from lib.durations import format_duration
from lib.text import clean

PLACEHOLDERS = ("components", "duration", "title", "severity", "commander")

DEFAULTS = {
    "public": {
        "investigating": "We are investigating reports of problems with {components}. Next update within 30 minutes.",
        "identified": "We have identified the cause of the problems with {components} and are working on a fix.",
        "monitoring": "A fix has been applied for {components}. We are monitoring the results.",
        "resolved": "This incident has been resolved. {components} are operating normally. It lasted {duration}.",
    },
    "internal": {
        "investigating": "{severity} {title}: investigating. Affected: {components}. Commander: {commander}. "
                         "Next internal update within 30 minutes.",
        "identified": "{severity} {title}: cause identified, fix in progress. Affected: {components}. Commander: {commander}.",
        "monitoring": "{severity} {title}: fix applied, monitoring. Running for {duration}.",
        "resolved": "{severity} {title}: resolved after {duration}. A postmortem follows.",
    },
}
# The public texts by status (the console's template picker lists these statuses).
TEMPLATES = DEFAULTS["public"]


def with_template(typed: str, filled: str) -> str:
    """The message after choosing a template: the template's text, below whatever was
    already typed (choosing a template never throws words away)."""
    typed = typed.rstrip()
    if not typed or typed == filled or not filled:
        return filled or typed
    if filled in typed:
        return typed
    return f"{typed}\n\n{filled}"


def placeholder_problem(text: str) -> str | None:
    """A sentence naming what is wrong with a template's placeholders, or None."""
    try:
        names = {name for _literal, name, _spec, _conversion in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        return f"text: {exc}; write placeholders as {{components}} and a literal brace as {{{{ or }}}}"
    unknown = sorted(names - set(PLACEHOLDERS))
    if unknown:
        return f"text: unknown placeholder {{{unknown[0]}}}; use {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
    return None


def template_text(audience: str, status: str) -> str:
    row = CommunicationTemplate.objects.filter(audience=audience, status=status).values_list("text", flat=True).first()
    return row if row is not None else DEFAULTS.get(audience, {}).get(status, "")


def fill(status: str, incident: Incident | None, now: datetime, *, audience: str = "public") -> str:
    template = template_text(audience, status)
    if incident is None:
        values = {"components": "the affected services", "duration": "", "title": "", "severity": "", "commander": "nobody yet"}
    else:
        values = {
            "components": ", ".join(incident.impacts.values_list("component__name", flat=True)) or "the affected services",
            "duration": format_duration((now - incident.started_at).total_seconds()), "title": incident.title,
            "severity": incident.severity, "commander": incident.commander.get_username() if incident.commander else "nobody yet",
        }
    try:
        text = template.format(**values)
    except (KeyError, IndexError, ValueError):
        text = template  # a template saved before a placeholder was renamed: shown as written
    return clean(text, multiline=True)
