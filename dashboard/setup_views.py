"""The set-up checklist: a fresh install pages nobody until it has a channel and a rule.
Add a channel (and prove it with a test message), then take the offered default rule."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from alerting import services as alerting_services
from alerting.models import AlertRule, Channel, Notification
from configfile import packs
from configfile.source import ConfigError
from core.roles import ADMIN, role_required

# Where each kind keeps its one address in Channel.config.
TARGET_KEY = {Channel.Kind.PAGERDUTY: "routing_key", Channel.Kind.EMAIL: "to"}


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=100, initial="On-call", help_text="How rules and messages name it.")
    kind = forms.ChoiceField(choices=Channel.Kind.choices, initial=Channel.Kind.SLACK)
    target = forms.CharField(max_length=500, label="Address",
                             help_text="The webhook URL (Slack, Discord, Teams, webhook), the routing key (PagerDuty), "
                                       "the email addresses separated by commas, or the Apprise URL.")


class PackForm(forms.Form):
    """One field per parameter of the guides' pack; ALERT_CHANNEL chooses among the channels."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        for name, declaration in packs.pack_parameters().items():
            help_text = str(declaration.get("description", ""))
            default = declaration.get("default")
            if name == "ALERT_CHANNEL":
                choices = [("", "nobody for now")] + [(c.name, c.name) for c in Channel.objects.filter(enabled=True).order_by("name")]
                self.fields[name] = forms.ChoiceField(choices=choices, required=False, label=name, help_text=help_text,
                                                      initial=choices[1][0] if len(choices) > 1 else "")
                continue
            self.fields[name] = forms.CharField(max_length=2048, required=default is None, label=name, help_text=help_text,
                                                initial=default or "", strip=True)
            self.fields[name].widget.attrs["placeholder"] = str(declaration.get("example") or "")

    def values(self) -> dict[str, str]:
        """The values given; a parameter with a default left empty takes its default (which may name others)."""
        declared = packs.pack_parameters()
        return {name: value for name, value in self.cleaned_data.items()
                if value != "" or declared.get(name, {}).get("default") is None or name == "ALERT_CHANNEL"}


def setup_state() -> dict[str, object]:
    """What the checklist shows: each step and whether it is done."""
    channels = list(Channel.objects.filter(enabled=True).order_by("created_at"))
    tests = {n.channel_id: n for n in Notification.objects.filter(kind=Notification.Kind.TEST).order_by("created_at")}
    rules = alerting_services.enabled_rules()
    routed = any("down" in rule.states and alerting_services.rule_notifies(rule) for rule in rules)
    return {
        "channels": [(channel, tests.get(channel.pk)) for channel in channels],
        "has_channel": bool(channels),
        "tested": any(n.status == Notification.Status.SENT for n in tests.values()),
        "routed": routed,
        "complete": bool(channels) and routed,
        "default_rule": AlertRule.objects.filter(name=alerting_services.DEFAULT_RULE_NAME).first(),
    }


@role_required(ADMIN)
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    form = ChannelForm()
    pack_form = PackForm()
    pack_plan = pack_problems = None
    status = 200
    action = request.POST.get("action")
    if action == "add_channel":
        form = ChannelForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            key = TARGET_KEY.get(data["kind"], "url")
            channel = Channel(name=data["name"], kind=data["kind"], config={key: data["target"].strip()})
            try:
                with transaction.atomic():
                    channel = alerting_services.channel_save(channel=channel, by=request.user)
                    alerting_services.send_test(channel=channel, now=timezone.now())
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    form.add_error("target" if field == "config" else (field if field in form.fields else None), errors)
            else:
                messages.success(request, f"Channel {channel.name} added; a test message is on its way.")
                return redirect("setup")
        status = 400
    elif action == "send_test":
        channel = get_object_or_404(Channel, pk=request.POST.get("channel"))
        alerting_services.send_test(channel=channel, now=timezone.now())
        messages.success(request, f"A test message is on its way to {channel.name}.")
        return redirect("setup")
    elif action == "default_rule":
        channel = get_object_or_404(Channel, pk=request.POST.get("channel"))
        rule = alerting_services.default_rule_create(channel=channel, by=request.user)
        messages.success(request, f"Rule “{rule.name}” now alerts {channel.name}.")
        return redirect("setup")
    elif action in ("preview_pack", "install_pack"):
        pack_form = PackForm(request.POST)
        if pack_form.is_valid():
            try:
                plan = packs.install(values=pack_form.values(), by=request.user, dry_run=action == "preview_pack", now=timezone.now())
            except ConfigError as error:
                pack_problems = error.problems
                status = 400
            else:
                if action == "install_pack":
                    messages.success(request, f"The guides' alert pack is installed: {plan.count('create')} created, "
                                              f"{plan.count('update')} updated.")
                    return redirect("setup")
                pack_plan = plan.render()
        else:
            status = 400
    return render(request, "dashboard/setup.html", {"form": form, "pack_form": pack_form, "pack_plan": pack_plan,
                                                    "pack_problems": pack_problems, "dashboards": packs.DASHBOARDS,
                                                    "pack_installed": AlertRule.objects.filter(name__startswith="guides: ").exists(),
                                                    **setup_state()}, status=status)
