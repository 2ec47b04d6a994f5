"""The canonical call-result vocabulary.

Names and numeric values follow Genesys Outbound Contact (OCS) so exports line up with the
tools campaign managers know. Each result belongs to a :class:`Category`; the category
decides retries, attempt caps and whether the call counts for the abandonment rate.

The abandonment (overdial) rate is ``(ABANDONED + DROPPED) / live answers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    FAX = "fax"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    BAD_NUMBER = "bad_number"
    NETWORK = "network"
    ABANDONED = "abandoned"
    DNC = "dnc"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class CallResult(StrEnum):
    ANSWER = "ANSWER"
    WRONG_PARTY = "WRONG_PARTY"
    WRONG_NUMBER = "WRONG_NUMBER"
    ANSWERING_MACHINE = "ANSWERING_MACHINE"
    FAX = "FAX"
    PAGER = "PAGER"
    NO_ANSWER = "NO_ANSWER"
    BUSY = "BUSY"
    SIT_INVALID_NUM = "SIT_INVALID_NUM"
    SIT_VACANT = "SIT_VACANT"
    SIT_INTERCEPT = "SIT_INTERCEPT"
    SIT_NO_CIRCUIT = "SIT_NO_CIRCUIT"
    SIT_REORDER = "SIT_REORDER"
    ALL_TRUNKS_BUSY = "ALL_TRUNKS_BUSY"
    GENERAL_ERROR = "GENERAL_ERROR"
    SYSTEM_ERROR = "SYSTEM_ERROR"
    DIAL_ERROR = "DIAL_ERROR"
    ABANDONED = "ABANDONED"
    DROPPED = "DROPPED"
    DO_NOT_CALL = "DO_NOT_CALL"
    CANCEL_RECORD = "CANCEL_RECORD"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"
    SILENCE = "SILENCE"

    @property
    def info(self) -> ResultInfo:
        return _INFO[self]

    @property
    def category(self) -> Category:
        return _INFO[self].category

    @property
    def ocs_code(self) -> int | None:
        return _INFO[self].ocs_code

    @property
    def is_live(self) -> bool:
        """A live person answered: the call is in the denominator of the abandonment rate."""
        return _INFO[self].live

    @property
    def is_abandoned(self) -> bool:
        """Numerator of the abandonment rate."""
        return self.category is Category.ABANDONED

    @property
    def counts_attempt(self) -> bool:
        """Whether this result counts toward the record's attempt cap."""
        return _INFO[self].counts_attempt


@dataclass(frozen=True, kw_only=True)
class ResultInfo:
    category: Category
    ocs_code: int | None
    live: bool
    counts_attempt: bool
    description: str


def _i(category: Category, code: int | None, live: bool, counts: bool, text: str) -> ResultInfo:
    return ResultInfo(category=category, ocs_code=code, live=live, counts_attempt=counts, description=text)


C = Category
_INFO: dict[CallResult, ResultInfo] = {
    CallResult.ANSWER: _i(C.HUMAN, 33, True, True, "a person answered and reached an agent"),
    CallResult.WRONG_PARTY: _i(C.HUMAN, 40, True, True, "answered by someone other than the contact"),
    CallResult.WRONG_NUMBER: _i(C.HUMAN, 53, True, True, "the number does not belong to the contact"),
    CallResult.ANSWERING_MACHINE: _i(C.MACHINE, 9, False, True, "an answering machine or voicemail"),
    CallResult.FAX: _i(C.FAX, 17, False, True, "a fax machine"),
    CallResult.PAGER: _i(C.FAX, 39, False, True, "a pager"),
    CallResult.NO_ANSWER: _i(C.NO_ANSWER, 7, False, True, "rang out with no answer"),
    CallResult.BUSY: _i(C.BUSY, 6, False, True, "the line was busy"),
    CallResult.SIT_INVALID_NUM: _i(C.BAD_NUMBER, 11, False, False, "the number is invalid"),
    CallResult.SIT_VACANT: _i(C.BAD_NUMBER, 12, False, False, "the number is not in service"),
    CallResult.SIT_INTERCEPT: _i(C.BAD_NUMBER, 13, False, False, "the number was intercepted"),
    CallResult.SIT_NO_CIRCUIT: _i(C.NETWORK, 15, False, False, "no circuit available"),
    CallResult.SIT_REORDER: _i(C.NETWORK, 16, False, False, "network reorder tone"),
    CallResult.ALL_TRUNKS_BUSY: _i(C.NETWORK, 10, False, False, "all trunks busy"),
    CallResult.GENERAL_ERROR: _i(C.NETWORK, 3, False, False, "general error"),
    CallResult.SYSTEM_ERROR: _i(C.NETWORK, 4, False, False, "system error"),
    CallResult.DIAL_ERROR: _i(C.NETWORK, 41, False, False, "the call could not be placed"),
    CallResult.ABANDONED: _i(C.ABANDONED, 21, True, True, "answered, but no agent took the call within the grace time"),
    CallResult.DROPPED: _i(C.ABANDONED, 26, True, True, "answered, then released by the dialer"),
    CallResult.DO_NOT_CALL: _i(C.DNC, 51, False, False, "the contact asked not to be called"),
    CallResult.CANCEL_RECORD: _i(C.CANCELLED, 52, False, False, "the record was cancelled"),
    CallResult.CANCELLED: _i(C.CANCELLED, None, False, False, "the call was cancelled before answer"),
    CallResult.UNKNOWN: _i(C.UNKNOWN, 28, False, True, "the outcome is unknown"),
    CallResult.SILENCE: _i(C.UNKNOWN, 32, True, True, "answered, but nobody could be classified"),
}
del C

LIVE_RESULTS = frozenset(r for r in CallResult if r.is_live)
ABANDON_RESULTS = frozenset(r for r in CallResult if r.is_abandoned)
