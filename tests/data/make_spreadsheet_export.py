"""Regenerate spreadsheet_export.xlsx: a contact list as a spreadsheet user saves it.

Phone numbers typed into cells become numbers, ZIP codes keep their zeros only through a
``00000`` number format, dates are dates, and the list is not on the first sheet.

    .venv/bin/python tests/data/make_spreadsheet_export.py
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent


def main() -> None:
    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Read me"
    notes.append(["Leads for the March renewal campaign. Do not edit the Leads sheet's headers."])
    leads = book.create_sheet("Leads (March)")
    leads.append(
        ["Contact ID", "Full Name", "Phone Number", "Caller ID", "ZIP", "Signed Up", "VIP", "Balance", "Notes"]
    )
    leads.append([101, "Ann Lee", 2125550171, None, 2134, date(2024, 3, 1), True, 12.5, None])
    leads.append(
        [102, "Bob Ray", "(312) 555-0172", 3125550100, 60601, datetime(2024, 3, 2, 14, 30), False, 0, "call after 5"]
    )
    leads.append([103, "Cy Twombly", 8144040000.0, None, 10001, None, False, 1234.56, None])
    leads.cell(row=4, column=9, value="=not a formula").data_type = "s"  # text that starts with "="
    leads.append([])
    leads.append([104, "Di Prince", "+1 415 555 0174", None, 94105, date(2023, 12, 31), True, -5, "line one\nline two"])
    leads.append([105, "Ed Norton", 5550175, None, 2210, None, None, None, "seven digits"])
    for row in range(2, 8):
        leads.cell(row=row, column=5).number_format = "00000"
    book.save(HERE / "spreadsheet_export.xlsx")


if __name__ == "__main__":
    main()
