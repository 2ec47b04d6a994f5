"""ServiceStack conventions the sandboxes follow: request fields bound case-insensitively from
the query string or body (collections as repeated keys, ``a,b,c`` or the JSV ``[a,b,c]``), and
errors as a ``responseStatus`` body (https://docs.servicestack.net/error-handling)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from dialer.errors import DialerError

Params = Mapping[str, Any]
"""Request fields, keys lower-cased."""


class SandboxRefusal(DialerError):
    """The sandbox refused a request; rendered as a ServiceStack ``responseStatus`` body."""

    def __init__(
        self,
        status: int,
        error_code: str,
        message: str,
        *,
        field_name: str | None = None,
        headers: Mapping[str, str] = {},
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.field_name = field_name
        self.headers = dict(headers)

    def body(self) -> dict[str, Any]:
        errors = []
        if self.field_name:
            errors.append(
                {"errorCode": self.error_code, "fieldName": self.field_name, "message": self.message, "meta": {}}
            )
        return {"responseStatus": {"errorCode": self.error_code, "message": self.message, "errors": errors, "meta": {}}}


def phones_digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def param_text(params: Params, key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def param_list(params: Params, key: str) -> list[str]:
    """A collection: repeated keys, ``a,b,c`` or the JSV form ``[a,b,c]``."""
    value = params.get(key)
    values = value if isinstance(value, list) else [value] if value is not None else []
    out: list[str] = []
    for item in values:
        text = str(item).strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        out.extend(part.strip() for part in text.split(",") if part.strip())
    return out


def param_bool(params: Params, key: str) -> bool:
    value = params.get(key)
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes") if value is not None else False


def param_int(params: Params, key: str, default: int) -> int:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SandboxRefusal(400, "SerializationException", f"'{value}' is not a number", field_name=key) from None


def param_day(params: Params, key: str, name: str) -> date | None:
    value = param_text(params, key)
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise SandboxRefusal(400, "SerializationException", f"'{value}' is not a date", field_name=name) from None
