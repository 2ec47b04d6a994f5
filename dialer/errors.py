"""Exceptions raised by the dialer.

Every error the dialer raises on purpose derives from :class:`DialerError`. Its message
says what went wrong *and what to do about it*; the CLI prints it to stderr and exits
with ``exit_code``. Adapters translate third-party exceptions at their boundary (keeping
the cause), so nothing above ``store/`` or ``telephony/`` catches a library's exception.

DialerError
├── ConfigError                settings or campaign options invalid
├── NotFound                   a campaign, record or attempt that does not exist
├── AlreadyExists              a campaign name that is taken
├── ImportFileError            a file that cannot be imported as a whole (nothing is changed)
├── CampaignOwned              another live `dialer run` paces the campaign (one campaign, one pacer)
├── InvalidTransition          a record or attempt asked to move to a state it cannot reach
├── StoreError                 the database failed or is at the wrong schema version
│   ├── StoreUnavailable       it cannot be reached (down, restarting, network cut); retried
│   └── StorageFull            it cannot write: disk full (or a quota / file-size limit)
├── TelephonyError
│   ├── TelephonyUnavailable   try again later: 429, 5xx, timeouts, connection errors
│   ├── TelephonyRejected      this request will never succeed as sent (bad number, bad caller ID)
│   ├── TelephonyAuthError     credentials or role; dialing stops for the campaign
│   └── PlacementUncertain     the request left us but no answer came back; reconcile before redialing
├── ComplianceBlocked          a compliance gate refused a call that reached placement
└── Interrupted                the user stopped the command (Ctrl-C); says what was kept
"""

from __future__ import annotations


class DialerError(Exception):
    """The dialer failed."""

    exit_code = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(DialerError):
    """The configuration is invalid. Run `dialer config show` to see the effective settings."""


class NotFound(DialerError):
    """The requested object does not exist."""


class AlreadyExists(DialerError):
    """The object already exists."""


class ImportFileError(DialerError):
    """The file cannot be imported; nothing was changed."""


class CampaignOwned(DialerError):
    """The campaign is paced by another live dialer process; one campaign has one pacer."""


class InvalidTransition(DialerError):
    """A state change that the record or attempt lifecycle does not allow."""


class StoreError(DialerError):
    """The database failed. Check DIALER_DATABASE_URL and run `dialer db upgrade`."""


class StoreUnavailable(StoreError):
    """The database cannot be reached. The dialer places no call until it is back, and retries
    every tick; nothing already stored is lost. Check that the server is up and reachable at
    DIALER_DATABASE_URL."""


class StorageFull(StoreError):
    """The database cannot write: its disk is full. Free space; nothing is written (and no call
    placed) until it can write again."""


class TelephonyError(DialerError):
    """The telephony provider failed."""

    #: Provider error code (ServiceStack ``errorCode`` or Twilio ``code``), when known.
    code: str | None = None
    #: HTTP status of the provider response, when there was one.
    status: int | None = None

    def __init__(self, message: str | None = None, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class TelephonyUnavailable(TelephonyError):
    """The telephony provider is unavailable; the dialer backs off and tries again."""

    #: Seconds the provider asked the dialer to wait (``Retry-After`` of a 429 or 503), when it said.
    retry_after: float | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.retry_after = retry_after

    @property
    def rate_limited(self) -> bool:
        """The provider said "too many requests" (HTTP 429): a cool-down for the whole account."""
        return self.status == 429


class TelephonyRejected(TelephonyError):
    """The telephony provider rejected the request; it will not succeed if sent again."""

    #: True when the provider said the *destination number* is invalid (no retry for that record).
    bad_number: bool = False
    #: True when the provider refused the *caller ID*; the campaign must be fixed.
    bad_caller_id: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        bad_number: bool = False,
        bad_caller_id: bool = False,
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.bad_number = bad_number
        self.bad_caller_id = bad_caller_id


class TelephonyAuthError(TelephonyError):
    """The telephony provider refused the credentials or role; dialing is paused."""


class PlacementUncertain(TelephonyError):
    """The call request was sent but no answer came back; the call may be ringing."""


class ComplianceBlocked(DialerError):
    """A compliance rule refused the call."""


class Interrupted(DialerError):
    """Interrupted (Ctrl-C)."""

    exit_code = 130
