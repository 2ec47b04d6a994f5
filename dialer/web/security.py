"""Sessions, CSRF tokens, login throttling, secret redaction and the session key.

* **Session cookie**: Starlette's signed cookie (itsdangerous, HMAC-SHA1 over the JSON
  payload and a timestamp), ``HttpOnly``, ``SameSite=Strict``, ``Secure`` when
  ``DIALER_WEB_COOKIE_SECURE`` is on. It holds the user's id, their session version (a
  password or role change, or removing the user, voids every session), the CSRF token and
  the time of the last request (idle sessions end after ``DIALER_WEB_SESSION_HOURS``).
* **CSRF**: one random token per session, in a hidden field of every form (and an
  ``X-CSRF-Token`` header for htmx requests), compared in constant time; the login form
  has one too (a pre-session token). Requests whose ``Origin`` is another site are refused
  whatever they carry.
* **The session key**: ``DIALER_WEB_SECRET_KEY``, or one generated once into
  ``DATA_DIR/web-secret-key`` (mode 0600), so restarts keep sessions.
* **Redaction**: :class:`RedactingFilter` masks every configured secret in log records.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
import threading
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from starlette.requests import Request

from dialer.errors import ConfigError
from dialer.settings import SECRET_MASK, Settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "dialer_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SECRET_FILE = "web-secret-key"


def session_secret(settings: Settings) -> str:
    """The key that signs session cookies: the setting, else the data dir's key file (made once)."""
    if settings.web_secret_key is not None and settings.web_secret_key.get_secret_value():
        value = settings.web_secret_key.get_secret_value()
        if len(value) < 32:
            raise ConfigError("DIALER_WEB_SECRET_KEY is too short: use at least 32 random characters")
        return value
    path = settings.data_dir / SECRET_FILE
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return _read_key(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the session key file {path}: {exc.strerror}; set DIALER_WEB_SECRET_KEY"
        ) from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    log.info("generated the web session key in %s", path)
    return key


def _read_key(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        path.chmod(0o600)
        log.warning("%s was readable by others (mode %o); set it to 0600", path, mode)
    value = path.read_text(encoding="ascii").strip()
    if len(value) < 32:
        raise ConfigError(f"the session key in {path} is too short; delete the file to generate a new one")
    return value


# ------------------------------------------------------------------------ CSRF
def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_valid(request: Request, submitted: str | None) -> bool:
    expected = request.session.get("csrf")
    if not isinstance(expected, str) or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        fetch_site = request.headers.get("sec-fetch-site")
        return fetch_site in (None, "same-origin", "none")
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


# -------------------------------------------------------------------- throttle
class LoginThrottle:
    """At most ``limit`` failed logins per user name and per client address in ``window``
    seconds; further attempts are refused until the oldest failure leaves the window."""

    def __init__(self, *, limit: int = 5, window: float = 900.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _keys(self, name: str, client: str) -> tuple[str, str]:
        return f"user:{name.lower()}", f"addr:{client}"

    def retry_after(self, name: str, client: str) -> float:
        """Seconds until a login may be tried again (0: now)."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in self._keys(name, client):
                failures = self._failures.get(key)
                if not failures:
                    continue
                while failures and now - failures[0] > self.window:
                    failures.popleft()
                if len(failures) >= self.limit:
                    wait = max(wait, self.window - (now - failures[0]))
        return wait

    def failed(self, name: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in self._keys(name, client):
                self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > 10_000:  # forget the oldest entries rather than grow without bound
                for key in list(self._failures)[:5_000]:
                    del self._failures[key]

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{name.lower()}", None)


# ------------------------------------------------------------------- redaction
def secret_values(settings: Settings, extra: Iterable[str] = ()) -> list[str]:
    """Every secret the process knows: SecretStr settings, database password, the session key."""
    found = [*extra]
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if hasattr(value, "get_secret_value"):
            found.append(value.get_secret_value())
    url = settings.effective_database_url
    if "://" in url and "@" in url:
        creds = url.split("://", 1)[1].rsplit("@", 1)[0]
        if ":" in creds:
            found.append(creds.split(":", 1)[1])
    return sorted({s for s in found if s and len(s) >= 4}, key=len, reverse=True)


class RedactingFilter(logging.Filter):
    """Replaces secrets in a log record's message (arguments included) and exception text."""

    def __init__(self, secrets_: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets_ if s]

    def _mask(self, text: str) -> str:
        for value in self.secrets:
            if value in text:
                text = text.replace(value, SECRET_MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = self._mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            masked_exc = self._mask(text)
            if masked_exc != text:
                record.exc_info = None
                record.exc_text = None
                record.msg = f"{record.msg}\n{masked_exc}"
        return True


def install_redaction(settings: Settings, extra: Iterable[str] = ()) -> RedactingFilter:
    """Add the filter to every handler of the root logger (and uvicorn's), once."""
    redactor = RedactingFilter(secret_values(settings, extra))
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            for existing in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
                handler.removeFilter(existing)
            handler.addFilter(redactor)
    return redactor
