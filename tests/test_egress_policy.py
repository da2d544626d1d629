"""The egress policy (core.egress, lib.egress): a status page visitor's webhook never reaches an
internal address, neither when subscribing nor at delivery (the address connected to is the one
checked, so a name that rebinds to 127.0.0.1 is refused); monitors and channels may point only
at the networks their saver's role is allowed (VIGIL_EGRESS_<ROLE>_ALLOW)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from alerting.models import Channel
from lib import egress
from monitors.models import Monitor
from statuspage import services
from statuspage.models import StatusPage, Subscriber, SubscriberDelivery, SubscriberEvent
from tests.servers import HTTPServer, respond

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PUBLIC_ADDRESS = "93.184.215.14"  # what the attacker's name answers while the form checks it


@pytest.fixture
def page():
    page, _ = StatusPage.objects.get_or_create(slug="public", defaults={"title": "Status", "is_default": True})
    return page


@pytest.fixture
def hook():
    server = HTTPServer({"/hook": lambda handler: respond(handler, 200, b"ok")})
    yield server
    server.close()


@pytest.fixture
def names(monkeypatch):
    """A DNS of our own for made-up names (each call answers the next address in its list); other names
    go to the system resolver. Only the lookup is swapped: the connection is the real one."""
    answers: dict[str, list[str]] = {}
    system = egress.resolver

    def resolve(host: str, port: int) -> list[str]:
        if host in answers:
            queue = answers[host]
            return [queue.pop(0) if len(queue) > 1 else queue[0]]
        return system(host, port)

    monkeypatch.setattr(egress, "resolver", resolve)
    return answers


def deliver_to(page: StatusPage, url: str) -> SubscriberDelivery:
    subscriber = Subscriber.objects.create(page=page, kind=Subscriber.Kind.WEBHOOK, email="hooks@example.com", webhook_url=url,
                                           webhook_secret="s" * 64, confirmed_at=NOW)
    event = SubscriberEvent.objects.create(key=f"update:{subscriber.pk}", kind="incident.update", created_at=NOW)
    delivery = SubscriberDelivery.objects.create(subscriber=subscriber, event=event, next_attempt_at=NOW)
    for claimed in services.claim_due(now=NOW, limit=10):
        services.deliver(delivery_id=claimed, now=NOW)
    delivery.refresh_from_db()
    return delivery


@pytest.mark.parametrize(("url", "said"), [
    ("http://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("http://[::1]:8080/hook", "::1 is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
    ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
    ("http://[::ffff:192.168.1.1]/hook", "::ffff:192.168.1.1 is a private address"),
    ("http://[fe80::1]/hook", "fe80::1 is a link-local address"),
    ("http://localhost:6379/", "localhost (127.0.0.1) is a loopback address"),
])
def test_a_webhook_subscription_to_an_internal_address_is_refused_with_a_clear_message(client, page, url, said):
    response = client.post("/status/subscribe/", {"kind": "webhook", "email": "hooks@example.com", "webhook_url": url})
    assert response.status_code == 400
    assert f"{said}; webhooks can only go to public internet addresses" in response.content.decode()
    assert not Subscriber.objects.exists() and not mail.outbox


def test_a_name_that_rebinds_to_loopback_after_subscribing_is_refused_at_delivery(client, page, hook, names, django_capture_on_commit_callbacks):
    names["hooks.rebind.test"] = [PUBLIC_ADDRESS, "127.0.0.1"]
    url = f"http://hooks.rebind.test:{hook.port}/hook"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/status/subscribe/", {"kind": "webhook", "email": "hooks@example.com", "webhook_url": url})
    assert response.status_code == 200 and len(mail.outbox) == 1  # public when the form checked it
    Subscriber.objects.update(confirmed_at=NOW)
    event = SubscriberEvent.objects.create(key="update:1", kind="incident.update", created_at=NOW)
    delivery = SubscriberDelivery.objects.create(subscriber=Subscriber.objects.get(), event=event, next_attempt_at=NOW)
    for claimed in services.claim_due(now=NOW, limit=10):
        services.deliver(delivery_id=claimed, now=NOW)
    delivery.refresh_from_db()
    assert delivery.status == "failed"  # permanent: retrying cannot make 127.0.0.1 public
    assert delivery.last_error == ("refused by the egress policy: hooks.rebind.test (127.0.0.1) is a loopback address, "
                                   "which VIGIL_EGRESS_SUBSCRIBER_ALLOW does not allow")
    assert hook.connections == 0


def test_a_stored_webhook_to_localhost_is_refused_at_delivery(page, hook):
    delivery = deliver_to(page, f"http://localhost:{hook.port}/hook")
    assert delivery.status == "failed" and "localhost (127.0.0.1) is a loopback address" in delivery.last_error
    assert hook.connections == 0


def test_a_delivery_connects_to_the_checked_address_and_keeps_the_name_in_the_host_header(page, hook, names, settings):
    settings.VIGIL_EGRESS_SUBSCRIBER_ALLOW = ["public", "127.0.0.0/8"]
    names["hooks.example.test"] = ["127.0.0.1"]
    delivery = deliver_to(page, f"http://hooks.example.test:{hook.port}/hook")
    assert (delivery.status, delivery.response_code) == ("sent", 200)
    [(method, path, headers, _body)] = hook.requests
    assert (method, path, headers["Host"]) == ("POST", "/hook", f"hooks.example.test:{hook.port}")


def test_a_webhook_redirect_is_not_followed(page, settings):
    settings.VIGIL_EGRESS_SUBSCRIBER_ALLOW = ["public", "127.0.0.0/8"]
    inside = HTTPServer({"/": lambda handler: respond(handler, 200, b"secret")})
    outside = HTTPServer({"/hook": lambda handler: respond(handler, 302, b"", {"Location": f"{inside.url}/"})})
    try:
        delivery = deliver_to(page, f"{outside.url}/hook")
    finally:
        inside.close()
        outside.close()
    assert delivery.response_code == 302 and delivery.status != "sent"
    assert inside.connections == 0


def import_as(tmp_path, username: str, text: str) -> str:
    path = tmp_path / "vigil.yaml"
    path.write_text(text)
    err = io.StringIO()
    try:
        call_command("import_config", str(path), "--as", username, stdout=io.StringIO(), stderr=err)
    except CommandError:
        pass
    return err.getvalue()


CHANNEL = "channels:\n  - {name: ops-hook, kind: webhook, url: 'http://10.1.2.3/hook'}\n"
MONITOR = "monitors:\n  - {name: local-db, kind: tcp, target: '127.0.0.1:5432'}\n"


def test_a_responder_cannot_point_a_channel_at_a_private_network(tmp_path, responder):
    problems = import_as(tmp_path, responder.username, CHANNEL)
    assert ("channels[0] (ops-hook).config: channel 'ops-hook': url: 10.1.2.3 is a private address, which "
            "VIGIL_EGRESS_RESPONDER_ALLOW does not allow; to allow it, add its network to VIGIL_EGRESS_RESPONDER_ALLOW") in problems
    assert not Channel.objects.exists()


def test_a_responder_may_point_a_channel_at_a_network_the_admin_allowed(tmp_path, responder, settings):
    settings.VIGIL_EGRESS_RESPONDER_ALLOW = ["public", "10.1.0.0/16"]
    assert import_as(tmp_path, responder.username, CHANNEL) == ""
    assert Channel.objects.get().config["url"] == "http://10.1.2.3/hook"


def test_a_responder_cannot_point_a_monitor_at_loopback(tmp_path, responder):
    problems = import_as(tmp_path, responder.username, MONITOR)
    assert ("monitors[0] (local-db).target: monitor 'local-db': 127.0.0.1 is a loopback address, which "
            "VIGIL_EGRESS_RESPONDER_ALLOW does not allow") in problems
    assert not Monitor.objects.exists()


def test_an_admin_monitor_and_channel_may_reach_internal_addresses(tmp_path, admin_user):
    assert import_as(tmp_path, admin_user.username, MONITOR + CHANNEL) == ""
    assert Monitor.objects.get().target == "127.0.0.1:5432"
    assert Channel.objects.get().name == "ops-hook"


def test_the_api_refuses_a_channel_outside_the_savers_networks(client, responder):
    from django.contrib.auth.models import Permission

    from api.tokens import token_issue

    # Responders do not manage channels; an admin granted this one the right, not the network.
    responder.user_permissions.add(Permission.objects.get(codename="add_channel"))
    _token, clear = token_issue(user=responder, name="channels", scope="write")
    response = client.post("/api/v1/channels", {"name": "meta", "kind": "webhook", "config": {"url": "http://169.254.169.254/"}},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert response.status_code in (400, 422), response.content
    assert "169.254.169.254 is a cloud metadata address, which VIGIL_EGRESS_RESPONDER_ALLOW does not allow" in response.content.decode()
    assert not Channel.objects.exists()


@pytest.mark.parametrize(("address", "kind"), [
    ("8.8.8.8", "public"), ("2606:4700::1111", "public"), ("100.64.0.1", "non-public"), ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("fc00::1", "private"), ("::ffff:127.0.0.1", "loopback"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata"), ("2002:7f00:1::", "loopback"), ("240.0.0.1", "private"),
])
def test_addresses_are_classified_after_unwrapping_embedded_ipv4(address, kind):
    import ipaddress

    assert egress.kind_of(ipaddress.ip_address(address)) == kind


def test_the_admin_forms_show_the_refusal_when_the_setting_narrows_admins_too(client, admin_user, settings):
    settings.VIGIL_EGRESS_ADMIN_ALLOW = ["public"]
    client.force_login(admin_user)
    monitor = {"name": "metadata", "kind": "http", "target": "http://169.254.169.254/latest/", "settings": "{}",
               "interval_seconds": 60, "timeout_seconds": 10, "retries": 2, "retry_interval_seconds": 20, "recovery_confirmations": 2,
               "quorum": 0, "heartbeat_period_seconds": 3600, "heartbeat_grace_seconds": 300,
               "state_changes-TOTAL_FORMS": 0, "state_changes-INITIAL_FORMS": 0}
    response = client.post("/admin/monitors/monitor/add/", monitor)
    assert response.status_code == 200
    assert ("monitor &#x27;metadata&#x27;: 169.254.169.254 is a cloud metadata address, which VIGIL_EGRESS_ADMIN_ALLOW does not allow"
            in response.content.decode())
    channel = {"name": "inside", "kind": "webhook", "config": '{"url": "http://[::1]:9000/hook"}', "enabled": "on"}
    response = client.post("/admin/alerting/channel/add/", channel)
    assert response.status_code == 200
    assert "url: ::1 is a loopback address, which VIGIL_EGRESS_ADMIN_ALLOW does not allow" in response.content.decode()
    assert not Monitor.objects.exists() and not Channel.objects.exists()
    settings.VIGIL_EGRESS_ADMIN_ALLOW = ["any"]
    assert client.post("/admin/monitors/monitor/add/", monitor).status_code == 302
    assert client.post("/admin/alerting/channel/add/", channel).status_code == 302


def test_the_api_refuses_a_monitor_outside_the_savers_networks(client, responder):
    from django.contrib.auth.models import Permission

    from api.tokens import token_issue

    responder.user_permissions.add(Permission.objects.get(codename="add_monitor"))
    _token, clear = token_issue(user=responder, name="monitors", scope="write")
    response = client.post("/api/v1/monitors", {"name": "broker", "kind": "redis", "target": "redis://10.9.8.7:6379/0"},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {clear}")
    assert response.status_code in (400, 422), response.content
    assert "10.9.8.7 is a private address, which VIGIL_EGRESS_RESPONDER_ALLOW does not allow" in response.content.decode()
    assert not Monitor.objects.exists()


def test_an_https_delivery_to_the_pinned_address_verifies_the_certificate_of_the_name(names, tmp_path, monkeypatch, free_port):
    """Pinned to 127.0.0.1, yet TLS sends SNI hooks.example.test and checks the certificate against that
    name; a proxy from the environment is not used (it would choose the address itself)."""
    import ssl
    import threading
    from datetime import timedelta
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from lib.delivery import TransportError, post_json

    def certificate(subject: str, issuer_key, issuer: str, public_key, *, ca: bool):
        now = datetime.now(UTC)
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])).public_key(public_key)
                   .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=30)))
        builder = (builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True) if ca
                   else builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False))
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("Vigil Test CA", ca_key, "Vigil Test CA", ca_key.public_key(), ca=True)
    server_cert = certificate("hooks.example.test", ca_key, "Vigil Test CA", server_key.public_key(), ca=False)
    (tmp_path / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "cert.pem").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                                serialization.NoEncryption()))
    seen: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen["host"] = self.headers["Host"]
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    context.sni_callback = lambda _socket, name, _context: seen.__setitem__("sni", name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{free_port}")  # nothing listens there
    names["hooks.example.test"] = ["127.0.0.1"]
    allow = egress.parse_allow(["public", "127.0.0.1/32"], "VIGIL_EGRESS_SUBSCRIBER_ALLOW")
    port = server.server_address[1]
    try:
        delivery = post_json(f"https://hooks.example.test:{port}/hook", {"ok": True}, allow=allow)
        assert delivery.code == 200
        assert seen == {"sni": "hooks.example.test", "host": f"hooks.example.test:{port}"}
        names["wrong-name.example.test"] = ["127.0.0.1"]  # the same server, but its certificate is not for this name
        with pytest.raises(TransportError, match="could not reach the receiver: SSLError"):
            post_json(f"https://wrong-name.example.test:{port}/hook", {"ok": True}, allow=allow)
    finally:
        server.shutdown()
        server.server_close()
