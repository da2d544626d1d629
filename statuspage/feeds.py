"""History feeds (RSS 2.0, Atom), the maintenance calendar (RFC 5545) and uptime badges."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape
from typing import Any

from django.utils import feedgenerator
from icalendar import Calendar, Event, vText

from incidents.models import Component, ComponentStatus
from statuspage import v2

FEED_ITEMS = 50


def _incident_feed(feed: feedgenerator.SyndicationFeed, data: v2.PageData) -> str:
    for incident in data.incidents[:FEED_ITEMS]:
        updates = sorted(incident.updates.all(), key=lambda u: (u.created_at, u.pk), reverse=True)
        body = "".join(
            f"<p><small>{escape(u.created_at.astimezone(data.tz).strftime('%b %d, %H:%M %Z'))}</small><br>"
            f"<strong>{escape(u.get_status_display())}</strong> - {u.message_html}</p>"
            for u in updates
        )
        postmortem = getattr(incident, "public_postmortem", None)
        if postmortem:
            # Newest first, like the updates below it: the postmortem is the last word on the incident.
            sections = "".join(f"<h4>{escape(heading)}</h4>{html}" for heading, html in postmortem["sections"])
            body = f"<h3>Postmortem</h3>{sections}<hr>{body}"
        latest = updates[0].created_at if updates else incident.updated_at
        if postmortem and postmortem["published_at"] and postmortem["published_at"] > latest:
            latest = postmortem["published_at"]
        feed.add_item(
            title=incident.title,
            link=data.incident_url[incident.pk],
            description=body,
            unique_id=data.incident_url[incident.pk],
            unique_id_is_permalink=True,
            pubdate=incident.started_at,
            updateddate=latest,
            categories=[incident.severity, incident.get_status_display()],
        )
    return feed.writeString("utf-8")


class _ContentDated:
    """A feed dated by its content: with no items Django would print the time of the build (its
    lastBuildDate / updated), changing the bytes and the ETag at every rebuild."""

    items: list[dict[str, Any]]
    content_date: datetime

    def latest_post_date(self) -> datetime:
        if self.items:
            return super().latest_post_date()  # type: ignore[misc]
        return self.content_date


class RssFeed(_ContentDated, feedgenerator.Rss201rev2Feed):
    pass


class AtomFeed(_ContentDated, feedgenerator.Atom1Feed):
    pass


def builders(data: v2.PageData) -> dict[str, tuple[Callable[[], str], str]]:
    """Each feed's name, how to build it and its content type: built one by one, so a feed
    that fails (XML refuses a character) never takes the page or the other feeds with it."""
    title = f"{data.page.title} - incident history"
    description = f"Incidents and their updates on {data.page.title}."

    def rss() -> str:
        feed = RssFeed(title=title, link=data.url, description=description, language="en", feed_url=f"{data.url}history.rss")
        feed.content_date = data.updated_at
        return _incident_feed(feed, data)

    def atom() -> str:
        feed = AtomFeed(title=title, link=data.url, description=description, language="en", feed_url=f"{data.url}history.atom")
        feed.content_date = data.updated_at
        return _incident_feed(feed, data)

    return {
        "history.rss": (rss, "application/rss+xml; charset=utf-8"),
        "history.atom": (atom, "application/atom+xml; charset=utf-8"),
        "calendar.ics": (lambda: calendar(data), "text/calendar; charset=utf-8"),
    }


def calendar(data: v2.PageData) -> str:
    host = data.url.split("://", 1)[-1].split("/", 1)[0]
    cal = Calendar()
    cal.add("prodid", "-//Vigil//Status page maintenance//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"{data.page.title} maintenance")
    cal.add("x-wr-timezone", data.page.time_zone)
    visible = {c.pk: c.name for c in data.components}
    for maintenance in data.maintenances:
        event = Event()
        event.add("uid", f"maintenance-{maintenance.pk}@{host}")
        event.add("dtstamp", maintenance.created_at)
        event.add("dtstart", maintenance.starts_at)
        event.add("dtend", maintenance.ends_at)
        event.add("summary", maintenance.title)
        names = [visible[c.pk] for c in maintenance.components.all() if c.pk in visible]
        description = maintenance.message or ""
        if names:
            description = (description + "\n\n" if description else "") + "Affects: " + ", ".join(names)
        event.add("description", description)
        event.add("url", data.url)
        event.add("status", "CONFIRMED")
        event.add("transp", "OPAQUE")
        event["x-vigil-status"] = vText(maintenance.status)
        # SEQUENCE lets calendar clients replace an earlier copy when a window moves.
        event.add("sequence", int((maintenance.completed_at or maintenance.started_at or maintenance.created_at).timestamp()) % 2_000_000_000)
        event.add("last-modified", maintenance.completed_at or maintenance.started_at or maintenance.created_at)
        cal.add_component(event)
    return cal.to_ical().decode()


BADGE_COLOURS = {
    ComponentStatus.OPERATIONAL: "#1a7f37",
    ComponentStatus.DEGRADED_PERFORMANCE: "#9a6700",
    ComponentStatus.PARTIAL_OUTAGE: "#bc4c00",
    ComponentStatus.MAJOR_OUTAGE: "#cf222e",
    ComponentStatus.UNDER_MAINTENANCE: "#6639ba",
}


def _text_width(text: str) -> int:
    return 7 * len(text) + 10  # Verdana 11px averages ~7 px per character


def badge(component: Component, uptime: float | None) -> str:
    """A shields.io-style two-part badge: name | status (and 90-day uptime)."""
    label = component.name
    value = ComponentStatus(component.status).label.lower()
    if uptime is not None:
        value += f" · {uptime:.2f}%"
    left, right = _text_width(label), _text_width(value)
    width = left + right
    colour = BADGE_COLOURS[ComponentStatus(component.status)]
    label_e, value_e = escape(label), escape(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="{label_e}: {value_e}">'
        f"<title>{label_e}: {value_e}</title>"
        f'<rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{label_e}</text><text x="{left + right / 2}" y="14">{value_e}</text></g></svg>'
    )
