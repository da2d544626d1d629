"""Status page snapshots: built by a task, served by requests without touching the database.

A build reads the page's public rows once and renders every document a visitor or
client can ask for (HTML pages, the v2 JSON API, feeds, calendar, badges). It is stored
three ways: in the cache (what requests read), in a database row and in a file (the
last good copy, for a cache that was flushed or is down, and for a database that is
down). Requests look documents up by (page slug, document name), in that order:
process memory (a second), cache, file, database row.

A public page's documents are also written as static files laid out like their URLs
(public_dir(): status/index.html, status/api/v2/summary.json ...), each with .gz and .br
siblings, atomically and only when their bytes change (so a file's mtime is its
Last-Modified). statuspage.files serves them before Django, and nginx or Caddy can serve
the directory directly (docs/deployment.md).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db.models import Prefetch, Q
from django.template.loader import render_to_string
from django.utils import timezone

from incidents.models import Component, ComponentGroup, Incident, IncidentUpdate, Maintenance, Postmortem, worst_status
from lib import markdown_render
from statuspage import feeds, v2
from statuspage.models import StatusPage, StatusPageComponent, StatusSnapshot
from statuspage.uptime import DAY_RULE, daily_uptime, uptime_days_document

log = logging.getLogger("vigil.statuspage")

HISTORY_MONTHS_PER_PAGE = 3
HISTORY_MONTHS = 24
INCIDENT_PAGES_DAYS = 90
STALE_AFTER = timedelta(seconds=150)
MEMORY_SECONDS = 1.0
ROUTES_KEY = "statuspage:routes"
STALE_MARK = "<!--vigil:stale-->"


GZIP_MIN_BYTES = 1024


@dataclass(frozen=True)
class Document:
    body: bytes
    content_type: str
    etag: str
    built_at: float  # unix time of the build (how fresh the page is: STALE_AFTER)
    # Compressed once at build time: a flood of visitors costs no compression work.
    gzipped: bytes | None = None
    # Unix time these exact bytes were first built: Last-Modified. A rebuild that produces the
    # same bytes keeps it, so If-Modified-Since (like the ETag) revalidates across rebuilds.
    modified_at: float = 0.0

    @classmethod
    def make(cls, body: str | bytes, content_type: str, built_at: float, modified_at: float | None = None) -> Document:
        raw = body.encode() if isinstance(body, str) else body
        packed = gzip.compress(raw, compresslevel=6, mtime=0) if len(raw) >= GZIP_MIN_BYTES else None
        return cls(raw, content_type, hashlib.blake2b(raw, digest_size=12).hexdigest(), built_at, packed,
                   built_at if modified_at is None else modified_at)

    def to_json(self) -> dict[str, Any]:
        return {"body": self.body.decode(), "type": self.content_type, "etag": self.etag, "built_at": self.built_at,
                "modified_at": self.modified_at}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Document:
        raw = row["body"].encode()
        packed = gzip.compress(raw, compresslevel=6, mtime=0) if len(raw) >= GZIP_MIN_BYTES else None
        return cls(raw, row["type"], row["etag"], row["built_at"], packed, row.get("modified_at", row["built_at"]))

    def unchanged_since(self, earlier: dict[str, Any] | None) -> Document:
        """This document, dated when an earlier build first made the same bytes."""
        if earlier and earlier.get("etag") == self.etag:
            return replace(self, modified_at=earlier.get("modified_at", earlier["built_at"]))
        return self


def path_prefix(page: StatusPage) -> str:
    return "/status/" if page.is_default else f"/status/{page.slug}/"


def page_url(page: StatusPage) -> str:
    base = settings.VIGIL_BASE_URL.rstrip("/")
    if page.domain:
        return f"{base.split('://', 1)[0]}://{page.domain}/"
    return base + path_prefix(page)


# --- Reading what a page shows --------------------------------------------------------------


def page_components(page: StatusPage) -> list[Component]:
    """The page's public components in its order; a page that picks none shows them all."""
    rows = StatusPageComponent.objects.filter(page=page, component__is_public=True).select_related("component__group")
    chosen = [row.component for row in rows.order_by("position", "id")]
    if chosen or StatusPageComponent.objects.filter(page=page).exists():
        return chosen
    return list(Component.objects.filter(is_public=True).select_related("group").order_by("group__position", "position", "name"))


def outage_segments(incident: Incident, *, now: datetime) -> list[tuple[int, str, datetime, datetime]]:
    """(component, status, from, to) for every status an incident's updates set on a component.

    Read from the updates' recorded component statuses, so a resolved incident (whose
    overrides are gone) still tells which components it hit, how hard and for how long."""
    segments: list[tuple[int, str, datetime, datetime]] = []
    open_since: dict[int, tuple[str, datetime]] = {}
    for update in incident.updates.all():
        for item in update.affected_components or []:
            component_id = item.get("component")
            if not isinstance(component_id, int):
                continue
            if component_id in open_since:
                status, start = open_since.pop(component_id)
                segments.append((component_id, status, start, update.created_at))
            if item.get("status") and item["status"] != "operational":
                open_since[component_id] = (item["status"], update.created_at)
    end = incident.resolved_at or now
    for component_id, (status, start) in open_since.items():
        segments.append((component_id, status, start, max(start, end)))
    return segments


def load_page_data(page: StatusPage, *, now: datetime) -> v2.PageData:
    components = page_components(page)
    ids = [c.pk for c in components]
    since = now - timedelta(days=HISTORY_MONTHS * 31)
    candidates = (
        Incident.objects.filter(is_public=True)
        .filter(Q(started_at__gte=since) | Q(status__in=Incident.OPEN_STATUSES))
        .order_by("-started_at", "-id")
        .prefetch_related(Prefetch("updates", queryset=IncidentUpdate.objects.order_by("created_at", "id")), "impacts")
        .select_related("postmortem")
    )
    shown = set(ids)
    incidents = []
    for incident in candidates:
        segments = outage_segments(incident, now=now)
        touched = {component_id for component_id, _status, _start, _end in segments}
        touched |= {i.component_id for i in incident.impacts.all()}
        # An incident belongs on the page when it touched a shown component, or no component at all.
        if touched and not touched & shown:
            continue
        incident.segments = [seg for seg in segments if seg[0] in shown]  # type: ignore[attr-defined]
        incident.component_ids = [cid for cid in ids if cid in touched]  # type: ignore[attr-defined]
        timeline = list(incident.updates.all())
        incident.latest_update = timeline[-1] if timeline else None  # type: ignore[attr-defined]
        incident.public_postmortem = public_postmortem(incident)  # type: ignore[attr-defined]
        incidents.append(incident)
    maintenances = list(
        Maintenance.objects.filter(Q(components__in=ids) | Q(components__isnull=True), is_public=True)
        .filter(Q(ends_at__gte=now - timedelta(days=INCIDENT_PAGES_DAYS)) | Q(status__in=[*Maintenance.ACTIVE_STATUSES, Maintenance.Status.SCHEDULED]))
        .distinct()
        .order_by("starts_at", "id")
        .prefetch_related("components")
    )
    groups = list(ComponentGroup.objects.filter(is_public=True, components__in=ids).distinct().order_by("position", "name"))
    # Groups in page order: a group sits where its first component sits.
    first_seen: dict[int, int] = {}
    for index, component in enumerate(components):
        if component.group_id is not None:
            first_seen.setdefault(component.group_id, index)
    groups.sort(key=lambda g: first_seen.get(g.pk, 0))
    url = page_url(page)
    data = v2.PageData(page=page, url=url, now=now, groups=groups, components=components,
                       incidents=incidents, maintenances=maintenances)
    data.incident_url = {i.pk: f"{url}incidents/{i.pk}/" for i in incidents}
    return data


POSTMORTEM_SECTIONS = [("summary", "Summary"), ("impact", "Impact"), ("timeline", "Timeline"),
                       ("root_cause", "Root cause"), ("lessons", "Lessons learned")]


def public_postmortem(incident: Incident) -> dict[str, Any] | None:
    """A published postmortem's non-empty sections as sanitized HTML (drafts never leave the console)."""
    try:
        postmortem = incident.postmortem
    except Postmortem.DoesNotExist:
        return None
    if postmortem.status != Postmortem.Status.PUBLISHED:
        return None
    sections = [(heading, markdown_render.render(getattr(postmortem, name))) for name, heading in POSTMORTEM_SECTIONS
                if getattr(postmortem, name).strip()]
    return {"published_at": postmortem.published_at, "sections": sections}


# --- Building ---------------------------------------------------------------------------------


def _month_key(value: datetime, tz: ZoneInfo) -> tuple[int, int]:
    local = value.astimezone(tz)
    return local.year, local.month


def history_pages(data: v2.PageData) -> list[list[dict[str, Any]]]:
    """Months newest first, HISTORY_MONTHS_PER_PAGE to a page, each with its incidents."""
    tz = data.tz
    by_month: dict[tuple[int, int], list[Incident]] = {}
    for incident in data.incidents:
        by_month.setdefault(_month_key(incident.started_at, tz), []).append(incident)
    year, month = _month_key(data.now, tz)
    oldest = min(by_month) if by_month else (year, month)
    months: list[dict[str, Any]] = []
    while (year, month) >= oldest and len(months) < HISTORY_MONTHS:
        months.append({"year": year, "month": month, "start": datetime(year, month, 1, tzinfo=tz),
                       "incidents": by_month.get((year, month), [])})
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return [months[i:i + HISTORY_MONTHS_PER_PAGE] for i in range(0, len(months), HISTORY_MONTHS_PER_PAGE)] or [[]]


# The page's clock setting -> (a time this year, a time with its year); the zone always follows.
CLOCK_FORMATS: dict[str, tuple[str, str]] = {
    StatusPage.Clock.H24: ("M j, H:i T", "M j, Y H:i T"),
    StatusPage.Clock.H12: ("M j, g:i A T", "M j, Y g:i A T"),
}


def clock_formats(page: StatusPage) -> dict[str, str]:
    """The date filter formats a page's templates write times with (`time_format`, `date_time_format`)."""
    time_format, date_time_format = CLOCK_FORMATS.get(page.clock, CLOCK_FORMATS[StatusPage.Clock.H24])
    return {"time_format": time_format, "date_time_format": date_time_format}


def build_context(page: StatusPage, *, now: datetime) -> dict[str, Any]:
    data = load_page_data(page, now=now)
    api = v2.documents(data)
    bars = daily_uptime(data.components, data.incidents, now=now)
    return {
        "page": page, "data": data, "api": api, "bars": bars, "prefix": path_prefix(page), "status": api["status.json"]["status"],
        "built_at": now, "tz": data.tz, "stale_mark": STALE_MARK,
        "open_incidents": [i for i in data.incidents if i.is_open],
        "active_maintenances": [m for m in data.maintenances if m.status in Maintenance.ACTIVE_STATUSES],
        "upcoming_maintenances": [m for m in data.maintenances if m.status == Maintenance.Status.SCHEDULED and m.ends_at > now],
        "live_url": f"/ws/status/{page.slug}/",
        "sections": _sections(data, bars), "day_rule": DAY_RULE,
        **clock_formats(page),
    }


def build_context_for(page: StatusPage) -> dict[str, Any]:
    return build_context(page, now=timezone.now())


def build_documents(page: StatusPage, *, now: datetime, failures: dict[str, str] | None = None) -> dict[str, Document]:
    """Every document of the page, each built on its own: one that raises (a feed refusing a
    character, a template error) is left out and named in `failures`, and the rest are built."""
    failures = {} if failures is None else failures
    context = build_context(page, now=now)
    data: v2.PageData = context["data"]
    api, bars = context["api"], context["bars"]
    built = now.timestamp()
    docs: dict[str, Document] = {}

    def attempt(name: str, content_type: str, render: Callable[[], str | bytes]) -> None:
        try:
            docs[name] = Document.make(render(), content_type, built)
        except Exception as exc:  # one document's failure must not hold back the others
            failures[name] = f"{type(exc).__name__}: {exc}"[:300]
            log.exception("status page %s: document %s not rebuilt; its last good copy stays up", page.slug, name)

    html = "text/html; charset=utf-8"
    with timezone.override(data.tz):
        attempt("live.html", html, lambda: render_to_string("statuspage/fragments/live.html", context))
        if "live.html" in docs:
            live = docs["live.html"].body.decode()
            attempt("index.html", html, lambda: render_to_string("statuspage/page.html", {**context, "live": live}))
        else:
            failures["index.html"] = "not built: it includes live.html, which failed"
        pages = history_pages(data)
        for number, months in enumerate(pages, start=1):
            name = "history.html" if number == 1 else f"history-{number}.html"
            extra = {"months": months, "number": number, "last": len(pages)}
            attempt(name, html, lambda extra=extra: render_to_string("statuspage/history.html", {**context, **extra}))  # type: ignore[misc]
        recent = now - timedelta(days=INCIDENT_PAGES_DAYS)
        for incident in data.incidents:
            if incident.is_open or incident.started_at >= recent:
                attempt(f"incidents/{incident.pk}.html", html, lambda incident=incident: render_incident(incident, context))  # type: ignore[misc]
        attempt("theme.css", "text/css; charset=utf-8", lambda: render_to_string("statuspage/theme.css", {"page": page}))
        for name, (build_feed, content_type) in feeds.builders(data).items():
            attempt(name, content_type, build_feed)
    for name, payload in api.items():
        attempt(f"api/v2/{name}", "application/json", lambda payload=payload: json.dumps(payload, separators=(",", ":")))  # type: ignore[misc]
    for component in data.components:
        bar = bars[component.pk]
        attempt(f"badges/{component.pk}.svg", "image/svg+xml", lambda component=component, bar=bar: feeds.badge(component, bar.percent))  # type: ignore[misc]
        # Not served as is: statuspage.views.component_uptime answers the uptime JSON for the
        # asked range from it, so the JSON's numbers are the bar's.
        attempt(f"uptime/{component.pk}.json", "application/json",
                lambda component=component, bar=bar: json.dumps(uptime_days_document(component, bar), separators=(",", ":")))  # type: ignore[misc]
    return docs


def render_incident(incident: Incident, context: dict[str, Any]) -> str:
    data: v2.PageData = context["data"]
    names = {c.pk: c.name for c in data.components}
    impacts = [(names[cid], cid) for cid in getattr(incident, "component_ids", []) if cid in names]
    updates = sorted(incident.updates.all(), key=lambda u: (u.created_at, u.pk), reverse=True)
    with timezone.override(context["tz"]):
        return render_to_string("statuspage/incident.html", {**context, "incident": incident, "updates": updates,
                                                             "impacts": impacts})


def _sections(data: v2.PageData, bars: dict[int, Any]) -> list[dict[str, Any]]:
    """Top-level rows in page order: a lone component, or a group with its components."""
    sections: list[dict[str, Any]] = []
    groups: dict[int, dict[str, Any]] = {}
    for component in data.components:
        row = {"component": component, "bar": bars[component.pk]}
        group = component.group if component.group and component.group.is_public else None
        if group is None:
            sections.append({"component": row})
            continue
        if group.pk not in groups:
            groups[group.pk] = {"group": group, "rows": []}
            sections.append(groups[group.pk])
        groups[group.pk]["rows"].append(row)
    for section in sections:
        if "group" in section:

            section["status"] = worst_status([r["component"].status for r in section["rows"]])
    return sections


# --- Storing ----------------------------------------------------------------------------------


def _doc_key(slug: str, name: str) -> str:
    return f"statuspage:{slug}:doc:{name}"


def _index_key(slug: str) -> str:
    return f"statuspage:{slug}:index"


def snapshot_dir() -> Path:
    return Path(settings.VIGIL_DATA_DIR) / "statuspage"


def _write_file(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        json.dump(payload, stream, separators=(",", ":"))
    os.replace(temporary, path)  # atomic: a reader sees the old copy or the new one


# --- Public files -------------------------------------------------------------------------------

# First path segments under /status/ that are the default page's own routes: a page with such a
# slug is not reachable at /status/<slug>/ (Django resolves the default page's route first).
RESERVED_SEGMENTS = frozenset({"live", "history", "incidents", "badges", "subscribe", "unsubscribe", "api"})


def public_dir() -> Path:
    return snapshot_dir() / "public"


def _built_marker(slug: str) -> Path:
    return snapshot_dir() / "built" / slug


def _manifest_path(slug: str) -> Path:
    return snapshot_dir() / "manifests" / f"{slug}.json"


def public_paths(name: str, *, slug: str, default: bool) -> list[str]:
    """Where a document is served, as paths under public_dir() that equal its URL paths (a URL
    ending in / is its index.html): "live.html" -> status/live/index.html, so a plain file
    server maps the address to the file without rewrites. The default page is served at
    /status/, /status/<slug>/ and its API at /api/v2/ as well."""
    tail = name if name == "index.html" or not name.endswith(".html") else name.removesuffix(".html") + "/index.html"
    prefixes = [] if slug in RESERVED_SEGMENTS else [f"status/{slug}/"]
    if default:
        prefixes.insert(0, "status/")
    paths = [prefix + tail for prefix in prefixes]
    if default and name.startswith("api/v2/"):
        paths.append(name)
    return paths


def _write_bytes(path: Path, data: bytes, modified: float) -> None:
    """Write then rename, dated `modified`: a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "wb") as stream:
        stream.write(data)
    os.chmod(temporary, 0o644)  # a web server running as another user reads them
    os.utime(temporary, (modified, modified))
    os.replace(temporary, path)


def _unlink_file(relative: str) -> None:
    root = public_dir()
    for suffix in ("", ".gz", ".br"):
        (root / (relative + suffix)).unlink(missing_ok=True)
    # An empty directory left behind would make a file server answer 403 for its URL instead of
    # handing the request to Vigil.
    folder = (root / relative).parent
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _read_manifest(slug: str) -> dict[str, str]:
    try:
        return dict(json.loads(_manifest_path(slug).read_text()))
    except (OSError, ValueError):
        return {}


def _claimed_by_other_pages(slug: str) -> set[str]:
    folder = _manifest_path(slug).parent
    claimed: set[str] = set()
    for manifest in folder.glob("*.json") if folder.is_dir() else []:
        if manifest.stem != slug:
            claimed.update(_read_manifest(manifest.stem))
    return claimed


def write_public_files(page: StatusPage, docs: dict[str, Document], *, built_at: float) -> None:
    """Write every document of a public page (none of a private one) under public_dir(), with
    precompressed siblings, and remove the files of documents the page no longer has."""
    import brotli  # Brotli's own binding: the .br siblings browsers prefer (smaller than gzip)

    previous = _read_manifest(page.slug)
    written: dict[str, str] = {}
    if not page.is_private:
        for name, doc in docs.items():
            for relative in public_paths(name, slug=page.slug, default=page.is_default):
                written[relative] = doc.etag
                target = public_dir() / relative
                if previous.get(relative) == doc.etag and target.exists():
                    continue  # same bytes: the file, and its date, stay as they are
                if doc.gzipped is not None:
                    _write_bytes(target.with_name(target.name + ".br"), brotli.compress(doc.body, quality=11), doc.modified_at)
                    _write_bytes(target.with_name(target.name + ".gz"), doc.gzipped, doc.modified_at)
                else:
                    for suffix in (".gz", ".br"):
                        target.with_name(target.name + suffix).unlink(missing_ok=True)
                _write_bytes(target, doc.body, doc.modified_at)
    gone = set(previous) - set(written)
    if gone:
        others = _claimed_by_other_pages(page.slug)  # a new default page now owns status/...
        for relative in gone - others:
            _unlink_file(relative)
    _write_file(_manifest_path(page.slug), written)
    marker = _built_marker(page.slug)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    os.utime(marker, (built_at, built_at))  # how fresh the page is: statuspage.files falls back to Django when stale


def remove_public_files(slug: str) -> None:
    """A page that was deleted or turned private: its files go."""
    others = _claimed_by_other_pages(slug)
    for relative in set(_read_manifest(slug)) - others:
        _unlink_file(relative)
    _manifest_path(slug).unlink(missing_ok=True)
    _built_marker(slug).unlink(missing_ok=True)


def rebuild(page: StatusPage, *, now: datetime | None = None) -> dict[str, Document]:
    """Build and store one page; returns its documents.

    A document that fails keeps its last good copy, and the failure is kept on the page's
    StatusSnapshot row (`failures`: document -> error and since when) for /health, /metrics
    and the operations page, until a rebuild builds it again."""
    now = now or timezone.now()
    started = time.monotonic()
    previous = StatusSnapshot.objects.filter(page=page).first()
    earlier_failures = previous.failures if previous else {}
    failed: dict[str, str] = {}
    try:
        docs = build_documents(page, now=now, failures=failed)
    except Exception as exc:
        # Not even the page's data could be read: every document keeps its last good copy.
        failure = {"*": {"error": f"{type(exc).__name__}: {exc}"[:300], "since": earlier_failures.get("*", {}).get("since", now.isoformat())}}
        if previous is not None:
            StatusSnapshot.objects.filter(pk=previous.pk).update(failures=failure)
        else:
            StatusSnapshot.objects.create(page=page, built_at=now, documents={}, failures=failure)
        raise
    build_ms = int((time.monotonic() - started) * 1000)
    earlier = previous.documents if previous else {}
    docs = {name: doc.unchanged_since(earlier.get(name)) for name, doc in docs.items()}
    serial = {name: doc.to_json() for name, doc in docs.items()}
    kept = {name: previous.documents[name] for name in failed if previous and name in previous.documents}
    for name, row in kept.items():
        serial[name] = row
        docs[name] = Document.from_json(row)
    failures = {name: {"error": error, "since": earlier_failures.get(name, {}).get("since", now.isoformat())} for name, error in failed.items()}
    StatusSnapshot.objects.update_or_create(page=page, defaults={"built_at": now, "build_ms": build_ms, "documents": serial, "failures": failures})
    _write_file(snapshot_dir() / f"{page.slug}.json", {"slug": page.slug, "built_at": now.timestamp(), "documents": serial})
    try:
        write_public_files(page, docs, built_at=now.timestamp())
    except OSError as exc:  # a full disk: the cache, the row and the JSON file still serve
        log.error("status page %s: public files not written (%s); Django serves the page meanwhile", page.slug, exc)
    try:
        cached = cache.get(_index_key(page.slug)) or []
        cache.set_many({_doc_key(page.slug, name): doc for name, doc in docs.items()}, timeout=None)
        cache.set(_index_key(page.slug), sorted(docs), timeout=None)
        stale = set(cached) - set(docs)
        if stale:
            cache.delete_many([_doc_key(page.slug, name) for name in stale])
    except Exception as exc:  # noqa: BLE001 - the cache is down: the file and the row serve meanwhile
        log.warning("status page %s built but not cached: %s", page.slug, exc)
    _forget(page.slug)
    if failed:
        log.error("status page %s rebuilt in %d ms; %d documents failed and keep their last good copy: %s",
                  page.slug, build_ms, len(failed), ", ".join(sorted(failed)))
    else:
        log.info("status page %s rebuilt in %d ms (%d documents)", page.slug, build_ms, len(docs))
    return docs


def failing_documents() -> dict[str, dict[str, dict[str, str]]]:
    """{page slug: {document: {"error", "since"}}} for every page whose last rebuild left a document out."""
    rows = StatusSnapshot.objects.exclude(failures={}).select_related("page").only("page__slug", "failures")
    return {row.page.slug: row.failures for row in rows if row.failures}


def routes_table() -> dict[str, Any]:
    """Which slug is the default, which domains map to which slug, which pages are private."""
    pages = list(StatusPage.objects.all())
    default = next((p.slug for p in pages if p.is_default), None)
    domains = {p.domain: p.slug for p in pages if p.domain}
    if settings.VIGIL_STATUS_HOST and default and settings.VIGIL_STATUS_HOST not in domains:
        domains[settings.VIGIL_STATUS_HOST.lower()] = default
    return {
        "default": default,
        "domains": domains,
        "pages": {p.slug: {"private": p.is_private, "token_hash": p.access_token_hash} for p in pages},
    }


def publish_routes() -> dict[str, Any]:
    table = routes_table()
    manifests = _manifest_path("x").parent
    for manifest in manifests.glob("*.json") if manifests.is_dir() else []:
        meta = table["pages"].get(manifest.stem)
        if meta is None or meta["private"]:
            remove_public_files(manifest.stem)
    _write_file(snapshot_dir() / "routes.json", table)
    try:
        cache.set(ROUTES_KEY, table, timeout=None)
    except Exception as exc:  # noqa: BLE001
        log.warning("status page routes not cached: %s", exc)
    _memory.clear()
    return table


# --- Serving ----------------------------------------------------------------------------------

_memory: dict[tuple[str, str], tuple[float, Any]] = {}
_memory_lock = threading.Lock()
_files: dict[str, tuple[float, dict[str, Any]]] = {}


def _remember(key: tuple[str, str], value: Any) -> Any:
    with _memory_lock:
        if len(_memory) > 2048:
            _memory.clear()
        _memory[key] = (time.monotonic() + MEMORY_SECONDS, value)
    return value


def _recall(key: tuple[str, str]) -> Any:
    hit = _memory.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    return None


def _forget(slug: str) -> None:
    with _memory_lock:
        for key in [k for k in _memory if k[0] == slug or k[0] == ""]:
            _memory.pop(key, None)


def _read_file(name: str) -> dict[str, Any] | None:
    path = snapshot_dir() / name
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    cached = _files.get(name)
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    _files[name] = (mtime, payload)
    return payload


def get_routes() -> dict[str, Any]:
    remembered = _recall(("", "routes"))
    if remembered is not None:
        return remembered
    table = None
    try:
        table = cache.get(ROUTES_KEY)
    except Exception:  # noqa: BLE001 - cache down: the file has them
        table = None
    if table is None:
        table = _read_file("routes.json")
    if table is None:
        try:
            table = publish_routes()
        except Exception:  # noqa: BLE001 - nothing built yet and the database is down
            table = {"default": None, "domains": {}, "pages": {}}
    return _remember(("", "routes"), table)


def get_document(slug: str, name: str) -> Document | None:
    """The stored document, from the fastest place that has it; None if the page has no such document."""
    key = (slug, name)
    remembered = _recall(key)
    if remembered is not None:
        return remembered
    try:
        doc = cache.get(_doc_key(slug, name))
    except Exception:  # noqa: BLE001 - cache down
        doc = None
    if doc is None:
        doc = _from_last_good(slug, name)
    if doc is not None:
        _remember(key, doc)
    return doc


def _from_last_good(slug: str, name: str) -> Document | None:
    payload = _read_file(f"{slug}.json")
    if payload is None:
        try:
            row = StatusSnapshot.objects.filter(page__slug=slug).only("documents").first()
        except Exception:  # noqa: BLE001 - database down too, and no file: nothing to serve
            return None
        if row is None:
            return None
        payload = {"documents": row.documents}
    found = payload["documents"].get(name)
    return Document.from_json(found) if found else None


def is_stale(doc: Document, now: float | None = None) -> bool:
    return (now or time.time()) - doc.built_at > STALE_AFTER.total_seconds()
