"""Which column holds which field, under the names real sources give them.

Fields are the Genesys preview-record ones (``recordHandle``, ``phoneNumber``,
``outboundCallerId``) plus optional per-record ``timezone``, ``country`` and ``phoneCode``
(a country calling code, as in VICIdial's ``phone_code``). Column names are compared
without case, spaces, dashes or underscores, so ``phone_number``, ``Phone Number`` and
``phoneNumber`` are one name. When several columns could be the phone (``Home Phone`` and
``Mobile``), the alias listed first below wins; ``--map`` settles anything else.

Every column that is not mapped to a field is user data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dialer.errors import ImportFileError

FIELDS = ("recordHandle", "phoneNumber", "outboundCallerId", "timezone", "country", "phoneCode")

#: Column names recognised for each field, most specific first. Sources: the Genesys
#: preview record (``recordHandle``…), Genesys OCS calling lists (``record_id``,
#: ``contact_info``, ``tz_dbid``), Genesys Cloud contact-list exports (``inin-outbound-id``),
#: VICIdial lead files (``vendor_lead_code``, ``lead_id``, ``phone_code``, ``phone_number``)
#: and spreadsheet/CRM exports (``Phone``, ``Mobile``, ``Caller ID``…).
FIELD_ALIASES: Mapping[str, tuple[str, ...]] = {
    "recordHandle": (
        "recordhandle",
        "handle",
        "recordid",
        "ininoutboundid",
        "vendorleadcode",
        "leadid",
        "contactid",
        "externalid",
        "id",
    ),
    "phoneNumber": (
        "phonenumber",
        "contactinfo",
        "phone",
        "number",
        "telephonenumber",
        "telephone",
        "tel",
        "mobilenumber",
        "mobilephone",
        "mobile",
        "cellphone",
        "cellnumber",
        "cell",
        "contactnumber",
        "primaryphone",
        "phone1",
        "homephone",
        "workphone",
        "businessphone",
    ),
    "outboundCallerId": ("outboundcallerid", "callerid", "calleridnumber", "outboundcli", "cli", "ani"),
    "timezone": ("timezone", "tz", "tzdbid", "tzname", "timezonename", "ianatimezone"),
    "country": ("country", "countryiso", "isocountry", "countryiso2", "countryname"),
    "phoneCode": ("phonecode", "callingcode", "countrycallingcode", "dialcode", "countrydialcode"),
}

#: What ``--map`` accepts as a field name (normalised), besides the canonical names.
_FIELD_NAMES = {
    **{f.lower(): f for f in FIELDS},
    "handle": "recordHandle",
    "phone": "phoneNumber",
    "callerid": "outboundCallerId",
    "tz": "timezone",
}
_LETTERS = re.compile(r"[A-Z]{1,3}")


def normalise_name(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def field_name(value: str) -> str:
    """The canonical field for a ``--map`` field name (``phone_number`` → ``phoneNumber``)."""
    found = _FIELD_NAMES.get(normalise_name(value))
    if found is None:
        raise ImportFileError(f"--map {value}=…: unknown field {value!r}; fields are {', '.join(FIELDS)}")
    return found


@dataclass(frozen=True, kw_only=True)
class ColumnMap:
    header: tuple[str, ...]
    fields: Mapping[str, int]
    """Field → column index, for the fields the file has."""
    user_columns: tuple[tuple[int, str], ...]
    """(index, name) of every other column: the user data, in file order."""

    def index(self, fld: str) -> int:
        return self.fields.get(fld, -1)

    def describe(self) -> dict[str, str]:
        """Field → column name, for reports and for remembering."""
        return {f: self.header[i] for f, i in self.fields.items()}


def find_column(header: Sequence[str], ref: str) -> int | None:
    """A column by exact name, then by normalised name, then by number (``3``) or letter (``C``)."""
    if ref in header:
        return header.index(ref)
    key = normalise_name(ref)
    for i, name in enumerate(header):
        if key and normalise_name(name) == key:
            return i
    text = ref.strip()
    if text.isdigit() and 1 <= int(text) <= len(header):
        return int(text) - 1
    if _LETTERS.fullmatch(text):
        number = 0
        for ch in text:
            number = number * 26 + ord(ch) - 64
        if number <= len(header):
            return number - 1
    return None


def map_columns(
    header: Sequence[str],
    overrides: Mapping[str, str],
    *,
    remembered: Mapping[str, str] | None = None,
) -> ColumnMap:
    """Field → column. ``overrides`` (``--map``) win; then the campaign's ``remembered`` mapping
    for columns this file has; then aliases. An empty column name unmaps a field."""
    fields: dict[str, int] = {}
    disabled: set[str] = set()
    for raw_field, column in overrides.items():
        fld = field_name(raw_field)
        if not column.strip():
            disabled.add(fld)
            continue
        found = find_column(header, column)
        if found is None:
            raise ImportFileError(
                f"--map {raw_field}={column}: the file has no column {column!r}; "
                f"columns are: {', '.join(header) or '(none)'}"
            )
        if found in fields.values():
            other = next(f for f, i in fields.items() if i == found)
            raise ImportFileError(f"--map: column {header[found]!r} is mapped to both {other} and {fld}")
        fields[fld] = found
    for fld, column in (remembered or {}).items():
        if fld in fields or fld in disabled or fld not in FIELD_ALIASES:
            continue
        if column == "":
            disabled.add(fld)
            continue
        found = find_column(header, column) if column in header else None
        if found is not None and found not in fields.values():
            fields[fld] = found
    keys = [normalise_name(name) for name in header]
    for fld, aliases in FIELD_ALIASES.items():
        if fld in fields or fld in disabled:
            continue
        for alias in aliases:
            found = next((i for i, k in enumerate(keys) if k == alias and i not in fields.values()), None)
            if found is not None:
                fields[fld] = found
                break
    if "phoneNumber" not in fields:
        raise ImportFileError(
            f"no phone column found; columns are: {', '.join(header) or '(none)'}; pass --map phoneNumber=COLUMN"
        )
    used = set(fields.values())
    return ColumnMap(
        header=tuple(header),
        fields=dict(sorted(fields.items(), key=lambda item: FIELDS.index(item[0]))),
        user_columns=tuple((i, name) for i, name in enumerate(header) if i not in used),
    )
