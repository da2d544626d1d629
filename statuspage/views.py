"""Public status page views: thin wrappers that serve prebuilt snapshot documents.

Reading a page needs no database when the snapshot is cached (and still answers
from the last good copy when the database or the cache is down). Only subscribing
and the rare old-incident page touch the database."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime
from email.utils import formatdate
from typing import Any

from django import forms
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.client_address import client_address
from lib import http_conditional as conditional
from statuspage import access, services
from statuspage.models import StatusPage, Subscriber
from statuspage.snapshot import STALE_MARK, Document, clock_formats, get_document, get_routes, is_stale, path_prefix, rebuild
from statuspage.uptime import uptime_for_range

log = logging.getLogger("vigil.statuspage")
PUBLIC_CACHE = "public, max-age=10, stale-while-revalidate=30, stale-if-error=86400"
PRIVATE_CACHE = "private, no-cache"


def _slug(request: HttpRequest, slug: str | None) -> tuple[str, dict[str, Any]]:
    routes = get_routes()
    slug = slug or getattr(request, "status_page_slug", None) or routes["default"]
    if not slug:
        raise Http404("No default status page: mark one page as the default in the admin.")
    meta = routes["pages"].get(slug)
    if meta is None:
        raise Http404("No such status page.")
    return slug, meta


def _build_now(slug: str, name: str) -> Document | None:
    """The page has no snapshot yet (new page, first request): build it once, here."""
    page = StatusPage.objects.filter(slug=slug).first()
    if page is None:
        return None
    return rebuild(page).get(name)


def serve(request: HttpRequest, slug: str | None, name: str, *, api: bool = False) -> HttpResponse:
    slug, meta = _slug(request, slug)
    if not access.has_access(request, slug, meta):
        if api:
            return JsonResponse({"error": "This status page is private: send its access token as 'Authorization: Bearer <token>'."}, status=401)
        return redirect_to_login(request.get_full_path())
    if api and request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), meta)
    doc = get_document(slug, name)
    if doc is None and get_document(slug, "index.html") is None:
        try:
            doc = _build_now(slug, name)
        except Exception:
            log.exception("status page %s has no snapshot and cannot be built now", slug)
            return HttpResponse("The status page is starting up; try again in a minute.", status=503,
                                content_type="text/plain", headers={"Retry-After": "30"})
    if doc is None:
        raise Http404("No such document on this status page.")
    response = _respond(request, doc, slug, meta)
    if meta.get("private") and request.GET.get("token") and access.token_matches(request.GET["token"], meta):
        # Trade the token in the address for a cookie, and drop it from the address bar.
        redirect = HttpResponseRedirect(request.path)
        redirect.set_cookie(access.cookie_name(slug), access.cookie_value(slug, meta), max_age=access.COOKIE_AGE,
                            httponly=True, samesite="Lax", secure=request.is_secure())
        if not api:
            return redirect
        response.set_cookie(access.cookie_name(slug), access.cookie_value(slug, meta), max_age=access.COOKIE_AGE,
                            httponly=True, samesite="Lax", secure=request.is_secure())
    return _cors(response, meta) if api else response


def _respond(request: HttpRequest, doc: Document, slug: str, meta: dict[str, Any]) -> HttpResponse:
    body = doc.body
    etag = f'"{doc.etag}"'
    html = doc.content_type.startswith("text/html")
    if html and getattr(request, "status_page_slug", None):
        # Served on the page's own domain: its links start at / instead of /status/<slug>/.
        prefix = (path_prefix_for(slug)).encode()
        body = body.replace(b'="' + prefix, b'="/')
        etag = f'"{doc.etag}-d"'
    stale = html and is_stale(doc)
    if stale:
        when = datetime.fromtimestamp(doc.built_at, tz=UTC)
        note = (f'<p class="stale-note" role="status">Showing the status as of {when:%b %d, %H:%M} UTC: live updates are '
                f"delayed right now. This page refreshes by itself when they are back.</p>")
        body = body.replace(STALE_MARK.encode(), note.encode(), 1)
        etag = f'"{doc.etag}-s{int(doc.built_at)}"'
    compress = body is doc.body and doc.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", "")
    if compress:
        etag = etag[:-1] + '-gz"'
    modified = doc.built_at if stale else doc.modified_at
    if not_modified(request, etag, modified):
        response = HttpResponseNotModified()
    elif compress:
        response = HttpResponse(doc.gzipped, content_type=doc.content_type)
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(body, content_type=doc.content_type)
    response["ETag"] = etag
    response["Last-Modified"] = formatdate(modified, usegmt=True)
    response["Cache-Control"] = PRIVATE_CACHE if meta.get("private") else ("no-cache" if stale else PUBLIC_CACHE)
    response["Vary"] = "Host, Accept-Encoding, Cookie" if meta.get("private") else "Host, Accept-Encoding"
    return response


def not_modified(request: HttpRequest, etag: str, modified: float) -> bool:
    return conditional.not_modified(request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since"), etag, modified)


def path_prefix_for(slug: str) -> str:
    return "/status/" if get_routes()["default"] == slug else f"/status/{slug}/"


def _cors(response: HttpResponse, meta: dict[str, Any]) -> HttpResponse:
    if not meta.get("private"):
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        response["Access-Control-Allow-Headers"] = "Content-Type, If-None-Match"
        response["Access-Control-Max-Age"] = "86400"
    return response


@require_http_methods(["GET", "HEAD"])
def page(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    return serve(request, slug, "index.html")


@require_http_methods(["GET", "HEAD"])
def live_fragment(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    return serve(request, slug, "live.html")


@require_http_methods(["GET", "HEAD"])
def history(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    try:
        number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return HttpResponse("page must be a number, e.g. ?page=2", status=400, content_type="text/plain")
    return serve(request, slug, "history.html" if number == 1 else f"history-{number}.html")


@require_http_methods(["GET", "HEAD"])
def incident(request: HttpRequest, pk: int, slug: str | None = None) -> HttpResponse:
    try:
        return serve(request, slug, f"incidents/{pk}.html")
    except Http404:
        pass
    return _old_incident(request, slug, pk)


def _old_incident(request: HttpRequest, slug: str | None, pk: int) -> HttpResponse:
    """Incidents older than the snapshot keeps are rendered from the database."""
    from statuspage.snapshot import build_context_for, render_incident

    slug, meta = _slug(request, slug)
    page_obj = StatusPage.objects.filter(slug=slug).first()
    if page_obj is None:
        raise Http404("No such status page.")
    context = build_context_for(page_obj)
    found = next((i for i in context["data"].incidents if i.pk == pk), None)
    if found is None:
        raise Http404("No such incident on this status page.")
    html = render_incident(found, context).replace(STALE_MARK, "")
    doc = Document.make(html, "text/html; charset=utf-8", timezone.now().timestamp())
    return _respond(request, doc, slug, meta)


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def api(request: HttpRequest, name: str, slug: str | None = None) -> HttpResponse:
    return serve(request, slug, f"api/v2/{name}", api=True)


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RangeError(ValueError):
    """A start or end the uptime JSON cannot answer: 400 when it is not a date, 422 when it
    is one outside what the bars keep."""

    def __init__(self, parameter: str, message: str, status: int) -> None:
        super().__init__(message)
        self.parameter, self.status = parameter, status


def _range_parameter(request: HttpRequest, name: str, default: date) -> date:
    text = request.GET.get(name, "")
    if text == "":
        return default
    try:
        if not ISO_DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise RangeError(name, f"{name}: {text[:40]!r} is not a date; write it as YYYY-MM-DD, e.g. {default.isoformat()}",
                         400) from None


@require_http_methods(["GET", "HEAD", "OPTIONS"])
def component_uptime(request: HttpRequest, component: str, slug: str | None = None) -> HttpResponse:
    """Statuspage's component uptime resource, answered from the snapshot's copy of the
    component's bar (statuspage.uptime): the same numbers as the bars, no database read."""
    slug, meta = _slug(request, slug)
    if request.method == "OPTIONS" or not access.has_access(request, slug, meta):
        return serve(request, slug, "api/v2/status.json", api=True)
    doc = get_document(slug, f"uptime/{component}.json") if component.isdigit() else None
    if doc is None and get_document(slug, "index.html") is None:
        doc = _build_now(slug, f"uptime/{component}.json")
    if doc is None:
        return _cors(JsonResponse({"error": f"No public component {component!r} on this status page; its ids are in "
                                            f"components.json."}, status=404), meta)
    days = json.loads(doc.body)
    first, last = date.fromisoformat(days["days"][0]["day"]), date.fromisoformat(days["days"][-1]["day"])
    try:
        start = _range_parameter(request, "start", first)
        end = _range_parameter(request, "end", last)
        for name, value in (("start", start), ("end", end)):
            if not first <= value <= last:
                raise RangeError(name, f"{name}: {value.isoformat()} is outside the {len(days['days'])} days kept for "
                                       f"uptime; use a date from {first.isoformat()} to {last.isoformat()}", 422)
        if end < start:
            raise RangeError("end", f"end: {end.isoformat()} is before start {start.isoformat()}; end must be on or after start",
                             422)
    except RangeError as exc:
        return _cors(JsonResponse({"error": str(exc), "parameter": exc.parameter}, status=exc.status), meta)
    body = json.dumps(uptime_for_range(days, start, end), separators=(",", ":"))
    answer = Document(body=body.encode(), content_type="application/json", built_at=doc.built_at,
                      etag=f"{doc.etag}-{start:%Y%m%d}-{end:%Y%m%d}", gzipped=None)
    return _cors(_respond(request, answer, slug, meta), meta)


@require_http_methods(["GET", "HEAD"])
def document(request: HttpRequest, name: str, slug: str | None = None) -> HttpResponse:
    return serve(request, slug, name)


@require_http_methods(["GET", "HEAD"])
def badge(request: HttpRequest, component: int, slug: str | None = None) -> HttpResponse:
    return serve(request, slug, f"badges/{component}.svg")


# --- Subscriptions (dynamic: they write) --------------------------------------------------------


class SubscribeForm(forms.Form):
    kind = forms.ChoiceField(choices=Subscriber.Kind.choices, initial=Subscriber.Kind.EMAIL, widget=forms.RadioSelect,
                             label="How should we tell you?")
    email = forms.EmailField(label="Email address", help_text="We send a confirmation link here first.", max_length=254)
    webhook_url = forms.URLField(label="Webhook URL", required=False, max_length=500, assume_scheme="https",
                                 help_text="For webhooks: we POST signed JSON here for every update.")
    components = forms.TypedMultipleChoiceField(coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
                                                label="Only these components (none ticked: all)")

    def __init__(self, *args: Any, choices: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["components"].choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("kind") == Subscriber.Kind.WEBHOOK and not data.get("webhook_url"):
            self.add_error("webhook_url", "A webhook subscription needs the URL we should POST to, e.g. https://example.com/hooks/status.")
        if data.get("kind") == Subscriber.Kind.EMAIL:
            data["webhook_url"] = ""
        return data


def _page_for(request: HttpRequest, slug: str | None) -> tuple[StatusPage, dict[str, Any]]:
    slug, meta = _slug(request, slug)
    page_obj = StatusPage.objects.filter(slug=slug).first()
    if page_obj is None:
        raise Http404("No such status page.")
    return page_obj, meta


def _context(request: HttpRequest, page_obj: StatusPage, **extra: Any) -> dict[str, Any]:
    prefix = "/" if getattr(request, "status_page_slug", None) else path_prefix(page_obj)
    return {"page": page_obj, "prefix": prefix, "built_at": timezone.now(), "stale_mark": "", **clock_formats(page_obj), **extra}


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    page_obj, meta = _page_for(request, slug)
    if not access.has_access(request, page_obj.slug, meta):
        return redirect_to_login(request.get_full_path())
    if not page_obj.allow_subscriptions:
        raise Http404("This page does not take subscriptions.")
    choices = [(c.pk, c.name) for c in services.component_choices(page_obj)]
    form = SubscribeForm(request.POST or None, choices=choices)
    if request.method == "POST" and form.is_valid():
        ip = client_address(request)
        if services.rate_limited(key=f"subscribe:{ip}", limit=10, seconds=3600):
            form.add_error(None, "Too many subscription requests from your network; try again in an hour.")
        else:
            try:
                services.subscribe(page=page_obj, kind=form.cleaned_data["kind"], email=form.cleaned_data["email"],
                                   webhook_url=form.cleaned_data["webhook_url"], component_ids=form.cleaned_data["components"],
                                   now=timezone.now())
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    for message in messages:
                        form.add_error(field if field in form.fields else None, message)
            except services.SubscriptionError as exc:
                form.add_error(None, str(exc))
            else:
                return render(request, "statuspage/subscribe_sent.html", _context(request, page_obj, email=form.cleaned_data["email"]))
    status = 400 if request.method == "POST" else 200
    return render(request, "statuspage/subscribe.html", _context(request, page_obj, form=form), status=status)


@require_http_methods(["GET"])
def confirm(request: HttpRequest, token: str, slug: str | None = None) -> HttpResponse:
    try:
        subscriber, first = services.confirm(token=token, now=timezone.now())
    except services.SubscriptionError as exc:
        page_obj, _meta = _page_for(request, slug)
        return render(request, "statuspage/subscription_problem.html", _context(request, page_obj, problem=str(exc)), status=400)
    secret = subscriber.webhook_secret if first and subscriber.kind == Subscriber.Kind.WEBHOOK else ""
    response = render(request, "statuspage/subscribe_confirmed.html",
                      _context(request, subscriber.page, subscriber=subscriber, secret=secret,
                               unsubscribe=services.unsubscribe_token(subscriber)))
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # RFC 8058 one-click: mail clients POST without a CSRF token; the signed token authorises it
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str, slug: str | None = None) -> HttpResponse:
    try:
        if request.method == "POST":
            subscriber = services.unsubscribe(token=token, now=timezone.now())
            return render(request, "statuspage/unsubscribed.html", _context(request, subscriber.page, subscriber=subscriber))
        subscriber = services.unsubscribe_preview(token=token)
    except services.SubscriptionError as exc:
        page_obj, _meta = _page_for(request, slug)
        return render(request, "statuspage/subscription_problem.html", _context(request, page_obj, problem=str(exc)), status=400)
    return render(request, "statuspage/unsubscribe.html", _context(request, subscriber.page, subscriber=subscriber, token=token))
