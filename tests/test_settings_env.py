"""Bad environment values stop start-up with one line naming the variable and the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.env import ConfigError, Env

ROOT = Path(__file__).resolve().parent.parent


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    environ.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
        ("DATABASE_URL", "mysql://db/vigil", "DATABASE_URL"),
        ("REDIS_URL", "http://cache", "REDIS_URL"),
        ("EMAIL_PORT", "twenty-five", "EMAIL_PORT='twenty-five' is not a whole number"),
        ("TIME_ZONE", "Mars/Olympus", "TIME_ZONE='Mars/Olympus' is not a known time zone"),
        ("VIGIL_ENV", "staging", "VIGIL_ENV='staging' is not one of development, production, test"),
        ("VIGIL_RAW_RETENTION_DAYS", "0", "VIGIL_RAW_RETENTION_DAYS=0 is below the minimum 1"),
        ("VIGIL_EGRESS_RESPONDER_ALLOW", "public,10.0.0.0/33", "VIGIL_EGRESS_RESPONDER_ALLOW: '10.0.0.0/33' is not a network"),
        ("VIGIL_CONFIG_MAX_DEPTH", "5000", "VIGIL_CONFIG_MAX_DEPTH=5000 is above the maximum 500"),
    ],
)
def test_a_bad_value_stops_start_up_with_one_line_naming_it(variable, value, expected, tmp_path):
    result = run_manage("check", VIGIL_DATA_DIR=str(tmp_path), **{variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("vigil: configuration error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_production_needs_a_strong_secret_key(tmp_path):
    result = run_manage("check", VIGIL_ENV="production", SECRET_KEY="short", ALLOWED_HOSTS="vigil.example.com", VIGIL_DATA_DIR=str(tmp_path))
    assert result.returncode == 2
    assert "SECRET_KEY is too weak for production" in result.stderr


def test_a_password_in_a_bad_url_is_never_printed(tmp_path):
    result = run_manage("check", DATABASE_URL="mysql://vigil:hunter2secret@db/vigil", VIGIL_DATA_DIR=str(tmp_path))
    assert result.returncode == 2
    assert "hunter2secret" not in result.stderr
    assert "***" in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    assert Env({"SECRET_KEY_FILE": str(secret)}).str("SECRET_KEY") == "from-a-file"
    with pytest.raises(ConfigError, match="SECRET_KEY_FILE: cannot read"):
        Env({"SECRET_KEY_FILE": str(tmp_path / "missing")}).str("SECRET_KEY")


def test_production_settings_pass_check_deploy_with_no_warnings(tmp_path):
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        VIGIL_ENV="production",
        SECRET_KEY="x7" * 20 + "-production-secret-key-for-tests-Kq9",
        ALLOWED_HOSTS="vigil.example.com",
        VIGIL_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
