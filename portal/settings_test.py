"""Test settings: the production code paths, isolated in a fresh data directory.

Each test run gets its own data dir (SQLite file, embedded Redis socket, metrics
files), so parallel runs never share state; processes the tests start inherit it.
"""

import os
import tempfile

os.environ["VIGIL_ENV"] = "test"
os.environ.setdefault("VIGIL_DATA_DIR", tempfile.mkdtemp(prefix="vigil-test-"))

from portal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# A file, not memory: worker and beat processes started by the tests open the same database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VIGIL_DATA_DIR / "test.sqlite3")}  # noqa: F405
