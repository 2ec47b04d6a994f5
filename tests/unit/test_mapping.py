"""Which column is which field, under the names real sources use."""

from __future__ import annotations

import pytest

from dialer.errors import ImportFileError
from dialer.importer.mapping import map_columns


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (  # the Genesys preview record
            ["recordHandle", "phoneNumber", "outboundCallerId", "name"],
            {"recordHandle": 0, "phoneNumber": 1, "outboundCallerId": 2},
        ),
        (
            ["record_handle", "phone_number", "outbound_caller_id"],
            {"recordHandle": 0, "phoneNumber": 1, "outboundCallerId": 2},
        ),
        (  # a Genesys OCS calling list
            ["record_id", "contact_info", "contact_info_type", "tz_dbid", "chain_id"],
            {"recordHandle": 0, "phoneNumber": 1, "timezone": 3},
        ),
        (["inin-outbound-id", "HomePhone", "CellPhone", "ZipCode"], {"recordHandle": 0, "phoneNumber": 2}),
        (  # a VICIdial lead file
            ["vendor_lead_code", "source_id", "list_id", "phone_code", "phone_number", "alt_phone", "country_code"],
            {"recordHandle": 0, "phoneNumber": 4, "phoneCode": 3},
        ),
        (  # spreadsheet exports
            ["Name", "Phone", "Mobile", "Caller ID"],
            {"phoneNumber": 1, "outboundCallerId": 3},
        ),
        (
            ["Full Name", "Mobile Phone", "Home Phone", "Time Zone", "Country"],
            {"phoneNumber": 1, "timezone": 3, "country": 4},
        ),
        (["ID", "Telephone Number"], {"recordHandle": 0, "phoneNumber": 1}),
    ],
)  # fmt: skip
def test_fields_are_found_under_real_names(header: list[str], expected: dict[str, int]) -> None:
    found = map_columns(header, {})
    assert dict(found.fields) == expected
    assert [name for _, name in found.user_columns] == [h for i, h in enumerate(header) if i not in expected.values()]


def test_map_overrides_by_name_number_or_letter_and_can_unmap() -> None:
    header = ["id", "Home", "Cell", "tz"]
    assert map_columns(header, {"phoneNumber": "Cell"}).fields["phoneNumber"] == 2
    assert map_columns(header, {"phone": "3"}).fields["phoneNumber"] == 2
    assert map_columns(header, {"phone_number": "C"}).fields["phoneNumber"] == 2
    unmapped = map_columns(header, {"phone": "Cell", "timezone": ""})
    assert "timezone" not in unmapped.fields and (3, "tz") in unmapped.user_columns


def test_a_remembered_mapping_applies_where_the_file_has_the_column() -> None:
    remembered = {"phoneNumber": "Cell", "outboundCallerId": "Line"}
    found = map_columns(["Phone", "Cell"], {}, remembered=remembered)
    assert dict(found.fields) == {"phoneNumber": 1}
    assert map_columns(["Phone", "Cell"], {"phone": "Phone"}, remembered=remembered).fields["phoneNumber"] == 0


@pytest.mark.parametrize(
    ("header", "overrides", "message"),
    [
        (["id", "name"], {}, "no phone column found; columns are: id, name; pass --map phoneNumber=COLUMN"),
        (["phone"], {"colour": "phone"}, "unknown field 'colour'"),
        (["phone"], {"phone": "mobile"}, "the file has no column 'mobile'; columns are: phone"),
        (["a", "b"], {"phone": "a", "callerid": "a"}, "mapped to both phoneNumber and outboundCallerId"),
    ],
)
def test_mapping_errors_name_the_fix(header: list[str], overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ImportFileError) as err:
        map_columns(header, overrides)
    assert message in err.value.message
