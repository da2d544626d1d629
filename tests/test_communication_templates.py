"""Editable communication templates: a team edits the public and internal texts on a staff page;
the console's template picker and the stakeholder form start from them; bad placeholders are
refused naming the fix; an empty text goes back to the built-in one."""

from __future__ import annotations

import pytest
from django.utils import timezone

from incidents import services as incident_services
from incidents.models import CommunicationTemplate, Component

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(responder):
    api = Component.objects.create(name="API")
    return incident_services.incident_open(title="API errors", impact="critical", message="Looking.", components={api.pk: "major_outage"},
                                           by=responder, now=timezone.now())


def test_edited_templates_fill_the_public_update_and_the_stakeholder_form(client, responder, incident):
    client.force_login(responder)
    page = client.get("/incidents/templates/").content.decode()
    assert "We are investigating reports of problems with {components}" in page and 'id="template-internal-identified"' in page
    assert client.post("/incidents/templates/", {"audience": "public", "status": "identified",
                                                 "text": "Found it: {components} broke. Fix coming."}).status_code == 302
    client.post("/incidents/templates/", {"audience": "internal", "status": "investigating", "text": "{severity} on {components}, led by {commander}."})
    public = client.get(f"/incidents/{incident.pk}/template/?template_status=identified").content.decode()
    assert "Found it: API broke. Fix coming." in public
    console = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert ">SEV-1 on API, led by rory-responder.</textarea>" in console

    client.post("/incidents/templates/", {"audience": "public", "status": "identified", "text": ""})
    assert not CommunicationTemplate.objects.filter(audience="public").exists()
    assert "We have identified the cause" in client.get(f"/incidents/{incident.pk}/template/?template_status=identified").content.decode()


def test_a_bad_placeholder_is_refused_naming_the_fix(client, responder):
    client.force_login(responder)
    response = client.post("/incidents/templates/", {"audience": "public", "status": "resolved", "text": "Fixed {compnents}."})
    assert response.status_code == 400
    assert "public resolved template: text: unknown placeholder {compnents}; use {components}" in response.content.decode()
    response = client.post("/incidents/templates/", {"audience": "public", "status": "resolved", "text": "Fixed {components"})
    assert response.status_code == 400 and "text: " in response.content.decode()
    assert not CommunicationTemplate.objects.exists()


def test_a_viewer_cannot_edit_templates(client, viewer):
    client.force_login(viewer)
    assert client.get("/incidents/templates/").status_code == 403


def test_config_as_code_manages_the_templates(tmp_path):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from incidents.update_templates import template_text

    path = tmp_path / "vigil.yaml"
    path.write_text("communication_templates:\n  public: {identified: 'Found it in {components}.'}\n"
                    "  internal: {resolved: '{severity} over after {duration}.'}\n")
    call_command("import_config", str(path), stdout=io.StringIO())
    assert template_text("public", "identified") == "Found it in {components}."
    assert template_text("internal", "resolved") == "{severity} over after {duration}."
    assert template_text("public", "investigating").startswith("We are investigating")
    out = io.StringIO()
    call_command("export_config", stdout=out)
    assert "communication_templates:\n  public:\n    identified: Found it in {components}.\n" in out.getvalue()
    path.write_text("communication_templates:\n  public: {resolved: 'Done {when}.'}\n")
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_config", str(path), stdout=io.StringIO(), stderr=err)
    assert "communication_templates.public.resolved: text: unknown placeholder {when}" in err.getvalue()
    assert template_text("public", "identified") == "Found it in {components}."  # all or nothing
