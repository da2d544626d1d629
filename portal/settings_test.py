"""Test settings: the production code paths, isolated in a fresh data directory.

Each test run gets its own data dir (SQLite file, embedded Redis socket, metrics
files), so parallel runs never share state; processes the tests start inherit it.
"""

import os
import tempfile
from urllib.parse import urlsplit, urlunsplit

os.environ["VIGIL_ENV"] = "test"
os.environ.setdefault("VIGIL_DATA_DIR", tempfile.mkdtemp(prefix="vigil-test-"))

# pytest-xdist (`make test` runs two workers): each worker gets its own data dir (SQLite file,
# embedded Redis) and, with REDIS_URL, its own Redis database counting down from the one given
# (PostgreSQL test databases get a per-worker suffix from pytest-django already). Processes a
# test starts inherit the worker's settings through tests/processes.py and the marker below, so
# they are not moved again.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and os.environ.get("VIGIL_TEST_WORKER") != _worker:
    _index = int(_worker[2:])
    os.environ["VIGIL_DATA_DIR"] = os.path.join(os.environ["VIGIL_DATA_DIR"], _worker)
    os.makedirs(os.environ["VIGIL_DATA_DIR"], exist_ok=True)
    if os.environ.get("REDIS_URL"):
        _url = urlsplit(os.environ["REDIS_URL"])
        _db = int(_url.path.strip("/") or 0)
        os.environ["REDIS_URL"] = urlunsplit(_url._replace(path=f"/{(_db - _index) % 16}"))
    os.environ["VIGIL_TEST_WORKER"] = _worker

from portal.settings import *  # noqa: E402, F403 (the environment above must be set first)

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# A file, not memory: worker and beat processes started by the tests open the same database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VIGIL_DATA_DIR / "test.sqlite3")}  # noqa: F405
