"""Spreadsheet formula injection ("CSV injection"), and how every export neutralises it.

A spreadsheet runs a cell whose text begins with ``=``, ``+``, ``-`` or ``@`` as a formula,
and one beginning with tab, carriage return or line feed can be re-parsed so that the next
character does (OWASP, "CSV Injection"; CWE-1236). Record data comes from files that people
outside the call centre can influence (web forms feeding the CRM that exported the list),
user data is exported unchanged, and raw provider fields and agent names travel with the
call records; so every text value is treated as possibly hostile. Two formats, two remedies:

**XLSX** — every text value is written as a string cell, never as a formula (and never
converted to a number or a URL), so nothing can be evaluated when the workbook opens and the
stored value is byte-exact. A value that begins with a trigger character also carries
Excel's own *quote prefix* flag (the cell style ``quotePrefix``, xlsxwriter's
``quote_prefix``): what Excel itself records when someone types a leading apostrophe. The
apostrophe is not part of the value; the cell shows the text as it is and stays text when a
user edits it (F2, Enter) instead of becoming a live formula. Phone numbers are text cells
like everything else, so ``+12125550101`` never turns into a float or a formula.

**CSV** — a CSV has no cell types, so OWASP's remedy has to change the bytes: a value that
begins with a trigger character is written with a leading single quote (``'=1+2``), and
every text field is enclosed in double quotes, so that a separator inside it (``,``, or the
``;`` that Excel uses as list separator in many locales) can never start a new cell.

The one exception is a value that is *entirely a signed decimal number* — an E.164 phone
number (``+12125550101``) or an amount (``-42.50``). A spreadsheet reads it as a numeric
constant: there is no function to call, no cell to reference and no operator beyond the
sign, so nothing can run or leak. Prefixing it would corrupt every phone number for the
programs that read the CSV back (a CRM, or the dialer's own importer, which would reject
``'+12125550101`` as an invalid number). Such values are written as they are. Excel shows
them as numbers when it opens a CSV (``+12125550101`` displays as ``12125550101``); that is a
display choice of Excel's, not a data change, and the XLSX export — where they are text — is
the file to open in Excel. Everything else keeps its exact bytes in both formats.
"""

from __future__ import annotations

import re

#: First characters that make a spreadsheet evaluate (or re-parse) a cell: OWASP's list,
#: including line feed (added in 2025).
TRIGGERS = frozenset("=+-@\t\r\n")

_SIGNED_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
#: Text that :func:`csv_text` leaves alone even when it begins with a trigger (a signed
#: number); a database that neutralises in SQL matches it with this expression.
PLAIN_TEXT = _SIGNED_NUMBER


def is_dangerous(text: str) -> bool:
    """Whether a spreadsheet could treat ``text`` as (the start of) a formula."""
    return text[:1] in TRIGGERS if text else False


def is_plain_number(text: str) -> bool:
    """Entirely a signed decimal number (E.164 phone numbers included): a numeric constant."""
    return _SIGNED_NUMBER.fullmatch(text) is not None


def csv_text(text: str) -> str:
    """``text`` as it may appear in a CSV cell: trigger-led text gets OWASP's ``'`` prefix."""
    if text and text[0] in TRIGGERS and not _SIGNED_NUMBER.fullmatch(text):
        return "'" + text
    return text
