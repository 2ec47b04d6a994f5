"""What the tick tells an observer as it works: calls placed, calls ended, provider errors.

The tick calls these hooks on ``ctx.events``; by default they do nothing. The daemon's
metrics (:mod:`dialer.daemon.metrics`) implement them as Prometheus counters. Hooks are
called with the tick's lock held and must not raise or block.
"""

from __future__ import annotations

from typing import Protocol

from dialer.errors import (
    PlacementUncertain,
    TelephonyAuthError,
    TelephonyError,
    TelephonyRejected,
)

#: Every kind :func:`error_kind` returns, in the order the metrics list them.
ERROR_KINDS = ("auth", "rejected", "rate_limited", "server_error", "uncertain", "unavailable")


class TickEvents(Protocol):
    def placed(self, *, campaign: str, backend: str) -> None:
        """The provider accepted a call (or may have: an uncertain placement counts)."""

    def ended(self, *, campaign: str, result: str) -> None:
        """An attempt ended with ``result`` (a :class:`~dialer.domain.results.CallResult` value)."""

    def provider_error(self, *, backend: str, kind: str, operation: str) -> None:
        """The provider failed a request; ``kind`` is one of :data:`ERROR_KINDS`."""


class NoEvents:
    """The default observer: ignores everything."""

    def placed(self, *, campaign: str, backend: str) -> None:
        return None

    def ended(self, *, campaign: str, result: str) -> None:
        return None

    def provider_error(self, *, backend: str, kind: str, operation: str) -> None:
        return None


def error_kind(exc: TelephonyError) -> str:
    """The kind of a provider error, for counting: auth, rejected, rate_limited (HTTP 429),
    server_error (5xx), uncertain (sent, no answer) or unavailable (timeouts, connection
    errors and anything else worth retrying)."""
    if isinstance(exc, TelephonyAuthError):
        return "auth"
    if isinstance(exc, TelephonyRejected):
        return "rejected"
    if isinstance(exc, PlacementUncertain):
        return "uncertain"
    if exc.status == 429:
        return "rate_limited"
    if exc.status is not None and 500 <= exc.status <= 599:
        return "server_error"
    return "unavailable"
