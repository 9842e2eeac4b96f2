"""Shared fixtures: the real PostgreSQL and Redis servers, and unique thread ids.

A test that needs a server skips when the server is unreachable on a developer
machine, and fails under CI=true: in CI a missing service is a broken setup, not
a reason to pass.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# CrewAI writes its stores (task outputs, a Flow's Memory) under CREWAI_STORAGE_DIR, by default
# in the user's data directory: keep every test's in a temporary directory, removed at exit.
_CREWAI_STORAGE = tempfile.mkdtemp(prefix="orch-tests-crewai-")
os.environ.setdefault("CREWAI_STORAGE_DIR", _CREWAI_STORAGE)
atexit.register(shutil.rmtree, _CREWAI_STORAGE, True)

POSTGRES_URL_ENV = "ORCH_TEST_POSTGRES_URL"
REDIS_URL_ENV = "ORCH_TEST_REDIS_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def service_unavailable(reason: str) -> None:
    """Skip locally; fail in CI, where every service is part of the contract."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the service is required)", pytrace=False)
    pytest.skip(reason)


def _postgres_problem(url: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed: pip install 'orchestration-patterns[postgres]'"
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def _redis_problem(url: str) -> str | None:
    # A raw PING keeps this fixture free of the optional redis package.
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2) as sock:
            if parts.password:
                user = parts.username or "default"
                sock.sendall(_resp("AUTH", user, parts.password))
                if not sock.recv(64).startswith(b"+OK"):
                    return "AUTH refused"
            sock.sendall(_resp("PING"))
            reply = sock.recv(64)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if reply.startswith(b"+PONG") else f"unexpected reply to PING: {reply[:40]!r}"


def _resp(*words: str) -> bytes:
    out = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    if problem := _postgres_problem(url):
        service_unavailable(f"PostgreSQL unreachable at {url} ({problem}); set {POSTGRES_URL_ENV}")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get(REDIS_URL_ENV, DEFAULT_REDIS_URL)
    if problem := _redis_problem(url):
        service_unavailable(f"Redis unreachable at {url} ({problem}); set {REDIS_URL_ENV}")
    return url


@pytest.fixture(scope="session")
def orch_command() -> list[str]:
    """How to start the CLI: the console script users run, else the module."""
    script = Path(sys.executable).with_name("orch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "patterns"]


@pytest.fixture
def unique_thread_id(request: pytest.FixtureRequest) -> str:
    """A thread id no other test (or earlier run against the same database) uses."""
    return f"test-{request.node.name[:40]}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def checkpoint_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each checkpointed test once on a SQLite file and once on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'checkpoints.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))
