"""The incident commander's console: thin views over incidents.services.

Every form works without JavaScript (post, redirect, render). With htmx, posting
an update swaps the timeline and form in place, and other commanders' pages
refresh their timeline when the websocket says it changed.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from core.roles import RESPONDER, VIEWER, has_role, role_required
from incidents import selectors, services, update_templates
from incidents.forms import DeclareIncidentForm, EditUpdateForm, MaintenanceForm, PostmortemForm, UpdateIncidentForm
from incidents.models import CHECKLIST, ActionItem, Component, Incident, IncidentUpdate, Maintenance, OpsChecklist, Postmortem


def _errors_from(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()) if hasattr(exc, "message_dict") else " ".join(exc.messages)
    return str(exc)


@role_required(VIEWER)
def incident_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    impact = request.GET.get("impact", "")
    query = request.GET.get("q", "").strip()
    recent = Incident.objects.exclude(status__in=Incident.OPEN_STATUSES).select_related("commander")
    if status in Incident.Status.values:
        recent = recent.filter(status=status)
    if impact in Incident.Impact.values:
        recent = recent.filter(impact=impact)
    if query:
        recent = recent.filter(Q(title__icontains=query) | Q(updates__message__icontains=query)).distinct()
    open_incidents = Incident.objects.filter(status__in=Incident.OPEN_STATUSES).select_related("commander").prefetch_related("impacts__component")
    upcoming = Maintenance.objects.exclude(status=Maintenance.Status.COMPLETED).prefetch_related("components").order_by("starts_at")[:20]
    return render(request, "incidents/list.html", {
        "open_incidents": open_incidents, "recent": recent[:50], "upcoming": upcoming, "status": status, "impact": impact, "q": query,
        "statuses": Incident.Status.choices, "impacts": Incident.Impact.choices, "can_respond": has_role(request.user, RESPONDER),
    })


@role_required(RESPONDER)
@require_http_methods(["GET", "POST"])
def incident_declare(request: HttpRequest) -> HttpResponse:
    if request.htmx and "template_status" in request.GET:
        # The template picker: the message field alone, keeping what was typed (hx-include sends it).
        text = update_templates.with_template(request.GET.get("message", ""),
                                              update_templates.fill(request.GET["template_status"], None, timezone.now()))
        return render(request, "incidents/fragments/message_field.html", {"text": text})
    form = DeclareIncidentForm(request.POST or None)
    if "use_template" in request.POST:
        # No-JS path: re-show the form as typed, the chosen status's template added to the message.
        data = request.POST.copy()
        data["message"] = update_templates.with_template(data.get("message", ""),
                                                         update_templates.fill(data.get("status", ""), None, timezone.now()))
        form = DeclareIncidentForm(data)
        form.errors.clear()
        return render(request, "incidents/declare.html", {"form": form, "template_statuses": update_templates.TEMPLATES})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = services.incident_open(
                title=data["title"], impact=data["impact"], status=data["status"], message=data["message"],
                components=form.chosen_components(), is_public=data["is_public"], notify=data["notify"], by=request.user, now=timezone.now(),
            )
        except (ValueError, ValidationError) as exc:
            form.add_error(None, _errors_from(exc))
        else:
            messages.success(request, f"Declared {incident.severity}: {incident.title}")
            return redirect(incident)
    if request.method == "GET" and request.GET.get("template"):
        form.initial["message"] = update_templates.fill("investigating", None, timezone.now())
    return render(request, "incidents/declare.html", {"form": form, "template_statuses": update_templates.TEMPLATES},
                  status=400 if form.errors else 200)


def _detail_context(request: HttpRequest, incident: Incident, form: UpdateIncidentForm | None = None) -> dict[str, object]:
    updates = incident.updates.select_related("author").prefetch_related("revisions").order_by("-created_at", "-id")
    component_ids = list(incident.impacts.values_list("component_id", flat=True))
    # The monitors app sits above this one: its monitors are read through the reverse side of
    # Monitor.component, without importing it.
    monitors = [
        monitor for component in Component.objects.filter(pk__in=component_ids).order_by("name").prefetch_related("monitors")
        for monitor in sorted(component.monitors.all(), key=lambda m: m.name)
    ]
    for monitor in monitors:
        monitor.runbooks = _runbooks(monitor)  # type: ignore[attr-defined]
    end = incident.resolved_at or timezone.now()
    return {
        "incident": incident,
        "updates": updates,
        "impacts": incident.impacts.select_related("component"),
        "monitors": monitors,
        "duration": end - incident.started_at,
        "form": form or UpdateIncidentForm(incident=incident),
        "can_respond": has_role(request.user, RESPONDER),
        "postmortem": Postmortem.objects.filter(incident=incident).first(),
        "template_statuses": list(update_templates.TEMPLATES),
        **_clock_context(incident),
        **_checklist_context(incident),
    }


def _runbooks(monitor: object) -> list[tuple[str, str, str]]:
    """The runbooks of the alert rules watching the monitor: (rule, url, text). Alerting sits above this
    app, so its rules are read through the reverse sides of Alert.monitor and AlertRule.monitors."""
    rules = {alert.rule for alert in monitor.alerts.filter(status__in=["pending", "firing", "acknowledged"])  # type: ignore[attr-defined]
             .select_related("rule") if alert.rule is not None}
    rules |= set(monitor.alert_rules.all())  # type: ignore[attr-defined]
    return sorted({(rule.name, rule.runbook_url, rule.runbook_text) for rule in rules if rule.runbook_url or rule.runbook_text})


def _checklist_context(incident: Incident) -> dict[str, object]:
    done = {step.step: step for step in incident.steps.all()}
    phases: dict[str, list[tuple[str, str, object]]] = {}
    for phase, key, label in CHECKLIST:
        phases.setdefault(phase, []).append((key, label, done.get(key)))
    status = incident.status if incident.is_open else Incident.Status.RESOLVED
    return {"checklist": list(phases.items()), "steps_log": sorted(done.values(), key=lambda s: (s.done_at, s.pk), reverse=True),
            "stakeholder_updates": list(incident.stakeholder_updates.order_by("-created_at", "-id")),
            "stakeholder_draft": update_templates.fill(status, incident, timezone.now(), audience="internal")}


def _clock_context(incident: Incident) -> dict[str, object]:
    """The severity policy's targets for the console's response clock."""
    policy = selectors.severity_policy(incident.impact)
    now = timezone.now()
    return {"clock": [(target, target.state(now), _minutes_text(target.seconds_left(now)))
                      for target in selectors.incident_clock(incident, policy=policy)],
            "postmortem_due_at": selectors.postmortem_due_at(incident, policy=policy),
            "what_changed": selectors.what_changed(incident, now)}


def _minutes_text(seconds: int) -> str:
    minutes = abs(seconds) // 60
    return f"{minutes} min left" if seconds >= 0 else f"{minutes} min over"


@role_required(RESPONDER)
@require_POST
def incident_tick_steps(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    steps = request.POST.getlist("step")
    if not steps:
        messages.error(request, "Tick at least one step, then press Record.")
        return redirect(incident)
    try:
        ticked = services.incident_tick_steps(incident_id=incident.pk, steps=steps, by=request.user, now=timezone.now())
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Recorded {len(ticked)} step(s) on the timeline.")
    return redirect(incident)


@role_required(VIEWER)
@require_http_methods(["GET", "POST"])
def ops_checklists(request: HttpRequest) -> HttpResponse:
    """The team's daily, weekly and monthly checklists: tick every item, then sign off (responders)."""
    now = timezone.now()
    status_code = 200
    if request.method == "POST":
        if not has_role(request.user, RESPONDER):
            return render(request, "403.html", {"message": "Signing off a checklist needs the responder role."}, status=403)
        try:
            ticked = [int(value) for value in request.POST.getlist("item") if value.isdigit()]
            sign_off = services.checklist_sign_off(checklist_id=int(request.POST.get("checklist", "0") or 0), ticked=ticked,
                                                   note=request.POST.get("note", ""), by=request.user, now=now)
        except (ValueError, ValidationError) as exc:
            messages.error(request, _errors_from(exc))
            status_code = 400
        except OpsChecklist.DoesNotExist:
            messages.error(request, "checklist: no such checklist; reload the page")
            status_code = 400
        else:
            messages.success(request, f"Signed off {sign_off.checklist.name}.")
            return redirect("ops-checklists")
    return render(request, "incidents/ops_checklists.html", {"states": selectors.checklist_states(now), "can_respond": has_role(request.user, RESPONDER)},
                  status=status_code)


@role_required(RESPONDER)
@require_http_methods(["GET", "POST"])
def communication_templates(request: HttpRequest) -> HttpResponse:
    """The team's starting texts, public and internal, per status (empty: the built-in text)."""
    status_code = 200
    if request.method == "POST":
        audience, status = request.POST.get("audience", ""), request.POST.get("status", "")
        try:
            services.communication_template_save(audience=audience, status=status, text=request.POST.get("text", ""), by=request.user)
        except (ValueError, ValidationError) as exc:
            messages.error(request, f"{audience} {status} template: {_errors_from(exc)}")
            status_code = 400
        else:
            messages.success(request, f"Saved the {audience} {status} template.")
            return redirect("communication-templates")
    rows = [(audience, status, update_templates.template_text(audience, status), default)
            for audience, texts in update_templates.DEFAULTS.items() for status, default in texts.items()]
    return render(request, "incidents/templates.html", {"rows": rows, "placeholders": update_templates.PLACEHOLDERS}, status=status_code)


@role_required(RESPONDER)
@require_POST
def incident_stakeholder_update(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    try:
        services.incident_post_stakeholder_update(incident_id=incident.pk, message=request.POST.get("stakeholder_message", ""),
                                                  by=request.user, now=timezone.now())
    except (ValueError, ValidationError) as exc:
        messages.error(request, f"Stakeholder update: {_errors_from(exc)}")
    else:
        messages.success(request, "Stakeholder update sent to the severity's internal channels.")
    return redirect(incident)


@role_required(RESPONDER)
@require_POST
def incident_war_room(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    url = request.POST.get("war_room_url", "").strip()
    try:
        services.incident_set_details(incident_id=incident.pk, expected_version=None, by=request.user, now=timezone.now(), war_room_url=url)
    except (ValueError, ValidationError) as exc:
        messages.error(request, f"War room link: {_errors_from(exc)}")
    else:
        messages.success(request, "War room link saved." if url else "War room link removed.")
    return redirect(incident)


@role_required(RESPONDER)
@require_POST
def incident_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    services.incident_acknowledge(incident_id=incident.pk, by=request.user, now=timezone.now())
    messages.success(request, f"Acknowledged {incident.severity}: {incident.title}")
    return redirect(incident)


@role_required(VIEWER)
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    return render(request, "incidents/detail.html", _detail_context(request, incident))


@role_required(VIEWER)
def incident_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """The timeline alone: what a live refresh swaps in."""
    incident = get_object_or_404(Incident, pk=pk)
    return render(request, "incidents/detail.html#timeline", {**_detail_context(request, incident), "head_oob": True})


@role_required(VIEWER)
def incident_monitors(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    return render(request, "incidents/detail.html#monitors", _detail_context(request, incident))


@role_required(RESPONDER)
@require_POST
def incident_post_update(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    form = UpdateIncidentForm(request.POST, incident=incident)
    status = 200
    if "use_template" in request.POST:
        # No-JS path for templates: re-show the form with the chosen status's text.
        data = request.POST.copy()
        data["message"] = update_templates.with_template(data.get("message", ""),
                                                         update_templates.fill(request.POST.get("status", ""), incident, timezone.now()))
        form = UpdateIncidentForm(data, incident=incident)
        form.errors.clear()
    elif form.is_valid():
        data = form.cleaned_data
        try:
            services.incident_post_update(
                incident_id=incident.pk, expected_version=data["version"], status=data["status"], message=data["message"],
                components=form.chosen_components(), notify=data["notify"], by=request.user, now=timezone.now(),
            )
        except services.IncidentConflict as exc:
            form.add_error(None, str(exc))
            status = 409
        except (ValueError, ValidationError) as exc:
            form.add_error(None, _errors_from(exc))
            status = 400
        else:
            incident.refresh_from_db()
            if not request.htmx:
                messages.success(request, "Update posted.")
                return redirect(incident)
            return render(request, "incidents/detail.html#live", {**_detail_context(request, incident), "head_oob": True})
    else:
        status = 400
    incident.refresh_from_db()
    context = _detail_context(request, incident, form)
    if request.htmx:
        response = render(request, "incidents/detail.html#live", {**context, "head_oob": True}, status=200)
        response["HX-Reswap"] = "outerHTML"
        return response
    return render(request, "incidents/detail.html", context, status=status)


@role_required(RESPONDER)
def incident_template(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    text = update_templates.with_template(request.GET.get("message", ""),
                                          update_templates.fill(request.GET.get("template_status", ""), incident, timezone.now()))
    return render(request, "incidents/fragments/message_field.html", {"text": text})


@role_required(RESPONDER)
@require_http_methods(["GET", "POST"])
def update_edit(request: HttpRequest, pk: int) -> HttpResponse:
    update = get_object_or_404(IncidentUpdate.objects.select_related("incident"), pk=pk)
    incident = update.incident
    form = EditUpdateForm(request.POST or None, initial={"message": update.message, "version": incident.version})
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.incident_edit_update(update_id=update.pk, expected_version=form.cleaned_data["version"],
                                          message=form.cleaned_data["message"], by=request.user, now=timezone.now())
        except services.IncidentConflict as exc:
            form.add_error(None, str(exc))
            status = 409
        except (ValueError, ValidationError) as exc:
            form.add_error("message", _errors_from(exc))
            status = 400
        else:
            messages.success(request, "Update edited; the earlier text is kept in its history.")
            return redirect(incident)
    return render(request, "incidents/update_edit.html", {"form": form, "update": update, "incident": incident}, status=status)


# --- Maintenance -----------------------------------------------------------------------------


@role_required(RESPONDER)
@require_http_methods(["GET", "POST"])
def maintenance_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    instance = get_object_or_404(Maintenance, pk=pk) if pk else None
    if instance is None and request.method == "GET":
        start = (timezone.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        form = MaintenanceForm(initial={"starts_at": start.replace(tzinfo=None), "ends_at": (start + timedelta(hours=1)).replace(tzinfo=None), "time_zone": "UTC"})
    else:
        form = MaintenanceForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        maintenance = form.save(commit=False)
        try:
            services.maintenance_save(maintenance=maintenance, components=form.cleaned_data["components"], by=request.user, now=timezone.now())
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Maintenance “{maintenance.title}” saved.")
            return redirect("incident-list")
    return render(request, "incidents/maintenance_form.html", {"form": form, "maintenance": instance}, status=400 if form.errors else 200)


@role_required(RESPONDER)
@require_POST
def maintenance_status(request: HttpRequest, pk: int) -> HttpResponse:
    status = request.POST.get("status", "")
    try:
        maintenance = services.maintenance_set_status(maintenance_id=pk, status=status, by=request.user, now=timezone.now())
    except Maintenance.DoesNotExist:
        raise Http404("No such maintenance") from None
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"“{maintenance.title}” is now {maintenance.get_status_display().lower()}.")
    return redirect("incident-list")


# --- Postmortems ------------------------------------------------------------------------------


@role_required(VIEWER)
@require_http_methods(["GET", "POST"])
def postmortem_edit(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    postmortem = Postmortem.objects.filter(incident=incident).first()
    can_edit = has_role(request.user, RESPONDER)
    if request.method == "POST":
        if not can_edit:
            return render(request, "403.html", {"message": "Editing a postmortem needs the responder role."}, status=403)
        form = PostmortemForm(request.POST)
        if not form.is_valid():
            errors = [f"{form.fields[name].label or name.replace('_', ' ').capitalize()}: {' '.join(messages_)}"
                      for name, messages_ in form.errors.items()]
            return render(request, "incidents/postmortem.html", {"incident": incident, "postmortem": postmortem, "can_edit": can_edit,
                                                                  "draft_timeline": services.timeline_text(incident), "errors": errors},
                          status=400)
        if postmortem is None:
            postmortem = services.postmortem_start(incident_id=incident.pk, by=request.user, now=timezone.now())
        for field in PostmortemForm.TEXT_FIELDS:
            if field in request.POST:
                setattr(postmortem, field, form.cleaned_data[field])
        postmortem.save()
        description = form.cleaned_data["new_action"]
        if description:
            ActionItem.objects.create(postmortem=postmortem, description=description, due_date=form.cleaned_data["new_action_due"])
        if "publish" in request.POST:
            try:
                services.postmortem_publish(postmortem_id=postmortem.pk, by=request.user, now=timezone.now())
            except ValueError as exc:
                messages.error(request, str(exc))
                return redirect("postmortem", pk=incident.pk)
            messages.success(request, "Postmortem published.")
        else:
            messages.success(request, "Postmortem saved.")
        return redirect("postmortem", pk=incident.pk)
    return render(request, "incidents/postmortem.html", {"incident": incident, "postmortem": postmortem, "can_edit": can_edit,
                                                          "draft_timeline": services.timeline_text(incident),
                                                          "postmortem_due_at": selectors.postmortem_due_at(incident)})
