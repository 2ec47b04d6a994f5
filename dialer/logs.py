"""Structured logs: one JSON object a line (``DIALER_LOG_FORMAT=json``), with secrets masked.

Each line carries ``ts`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, the record's
``extra`` fields (the tick's ``action``, ``campaign``, ``placed``, ``reason``…) and, with an
exception, ``exc_type`` and ``exc`` (the traceback). Before a line is written, every string in
it is masked: the values of the process's secrets (passwords, tokens, the database password)
and anything shaped like a credential whatever its value — ``Authorization:`` headers, Basic
and Bearer tokens, ``user:password@`` in URLs, and ``password=``/``token=``-style pairs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO, Any

from pydantic import SecretStr

from dialer.settings import Settings

MASK = "**********"

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # Authorization / Proxy-Authorization headers, as text or as a dict's repr
    (
        re.compile(
            r"""(?i)((?:proxy-)?authorization['"]?\s*[:=]\s*['"]?)(?:(basic|bearer|digest|token)\s+)?[^\s'",}]+"""
        ),
        lambda m: f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}{MASK}",
    ),
    (re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9+/=._~-]{8,}"), r"\1 " + MASK),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1" + MASK + "@"),
    # password=…, auth_token: …, "api_key": "…", secret=…
    (
        re.compile(
            r"""(?i)\b((?:[a-z_]*_)?(?:password|passwd|pwd|secret|auth_?token|token|api_?key|secret_key)"""
            r"""['"]?\s*[:=]\s*['"]?)([^\s'"&,;}]+)"""
        ),
        r"\1" + MASK,
    ),
)


class Redactor:
    """Masks known secret values and credential-shaped text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for value in self.secrets:
            if value in text:
                text = text.replace(value, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def mask_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {str(k): self.mask_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.mask_value(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.mask(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per record, every string masked by ``redactor``."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in data:
                data[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            data["exc_type"] = record.exc_info[0].__name__
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(self.redactor.mask_value(data), ensure_ascii=False, default=str)


class RedactingTextFormatter(logging.Formatter):
    """The text format, masked the same way (for handlers that format themselves)."""

    def __init__(self, redactor: Redactor, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor.mask(super().format(record))


class RedactingFilter(logging.Filter):
    """Masks a record's message and exception text in place, before any handler formats it
    (the terminal's rich handler renders the message itself)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.redactor.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            masked_exc = self.redactor.mask(text)
            if masked_exc != text:
                record.exc_info, record.exc_text = None, None
                record.msg = f"{record.msg}\n{masked_exc}"
        return True


def settings_secrets(settings: Settings) -> list[str]:
    """The secret values the settings hold: every SecretStr, and the database password."""
    found: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
    url = settings.effective_database_url
    if "://" in url and "@" in url:
        creds = url.split("://", 1)[1].rsplit("@", 1)[0]
        if ":" in creds:
            found.append(creds.split(":", 1)[1])
    return [s for s in found if s]


def configure(
    settings: Settings, *, level: int, text_handler: logging.Handler, stream: IO[str] | None = None
) -> Redactor:
    """Set up the root logger: ``text_handler`` (the terminal's) for ``log_format = "text"``,
    JSON lines on ``stream`` (stderr) for ``"json"``; secrets are masked either way."""
    redactor = Redactor(settings_secrets(settings))
    if settings.log_format == "json":
        handler: logging.Handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonFormatter(redactor))
    else:
        handler = text_handler
        handler.addFilter(RedactingFilter(redactor))
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    for noisy in ("apscheduler", "httpx", "httpcore", "alembic", "twilio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    return redactor
