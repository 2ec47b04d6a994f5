#!/usr/bin/env python3
"""Regenerate campaigns/demo-records.csv and campaigns/demo-dnc.csv (deterministic).

The sample is shaped like a real CRM export for a renewals campaign: Genesys preview-record
columns (recordHandle, phoneNumber, outboundCallerId) plus user data with the awkward
values real lists carry — leading zeros, dates, accents, commas, embedded newlines and a
value starting with "=". Phone numbers use the fictional 555-01XX range across time zones
and are written the many ways people type them. About 2 % of rows are bad on purpose so the
demo shows rejects with line numbers and reasons.

    python scripts/make_demo_campaign.py
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "dialer" / "campaigns"

# Area codes across the US time zones (Eastern → Hawaii), ~100 fictional lines each.
AREA_CODES = [
    "212",
    "315",
    "404",
    "617",
    "305",
    "704",
    "412",
    "216",  # Eastern
    "312",
    "214",
    "713",
    "612",
    "314",
    "615",  # Central
    "303",
    "801",
    "505",  # Mountain
    "602",
    "520",  # Arizona (no DST)
    "213",
    "415",
    "206",
    "503",
    "702",  # Pacific
    "907",
    "808",  # Alaska, Hawaii
]
FIRST = [
    "Ana",
    "José",
    "Chloé",
    "Liam",
    "Noah",
    "Emma",
    "Olivia",
    "Ava",
    "Mia",
    "Zoë",
    "Mateo",
    "Renée",
    "Ethan",
    "Björn",
    "Lucía",
    "Amelia",
    "Jürgen",
    "Siobhán",
    "Kai",
    "Priya",
    "Wei",
    "Fatima",
    "Omar",
    "Léa",
]
LAST = [
    "García",
    "Smith",
    "Nguyen",
    "O'Brien",
    "Müller",
    "Johnson",
    "Dubois",
    "Kowalski",
    "Rossi",
    "Patel",
    "Kim",
    "Brown",
    "Hernández",
    "Søren",
    "Silva",
    "Cohen",
    "Lefèvre",
    "Walker",
    "Young",
    "Núñez",
]
PLANS = ["Home Plus", "Auto Basic", "Auto Premium", "Renters", "Life 20-Year", "Umbrella"]
NOTES = [
    "",
    "",
    "",
    "Prefers mornings",
    "Asked about bundle discount, call back",
    "Spouse handles billing",
    "Moved recently; confirm address",
    "Línea preferida: móvil",
    'Said "call after 5pm"',
    "Two policies, one lapsed\nSecond line of the note",
    '=HYPERLINK("http://example.com")',
    "Balance, disputed: see ticket 88213",
]
CALLER_IDS = ["+12125550100", "+13125550100", "+12135550100"]


def fmt(area: str, line: str, rng: random.Random) -> str:
    exchange, last4 = "555", line
    style = rng.randrange(6)
    return [
        f"({area}) {exchange}-{last4}",
        f"{area}-{exchange}-{last4}",
        f"+1 {area} {exchange} {last4}",
        f"{area}{exchange}{last4}",
        f"1-{area}-{exchange}-{last4}",
        f"{area}.{exchange}.{last4}",
    ][style]


def main() -> None:
    rng = random.Random(20260105)
    numbers = [(a, f"01{n:02d}") for a in AREA_CODES for n in range(100)]
    rng.shuffle(numbers)
    rows: list[list[str]] = []
    header = [
        "recordHandle",
        "phoneNumber",
        "outboundCallerId",
        "first_name",
        "last_name",
        "account_number",
        "plan",
        "renewal_date",
        "premium",
        "email",
        "notes",
    ]
    n_good = 1040
    for i in range(n_good):
        area, line = numbers[i]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rows.append(
            [
                f"R-{100000 + i}",
                fmt(area, line, rng),
                rng.choice(CALLER_IDS) if rng.random() < 0.3 else "",
                first,
                last,
                f"{rng.randrange(10**7):08d}",  # leading zeros must survive
                rng.choice(PLANS),
                f"{rng.randrange(1, 13):02d}/{rng.randrange(1, 29):02d}/2026",
                f"{rng.randrange(200, 4000):,}.{rng.randrange(100):02d}",
                f"{first.lower()}.{last.lower().replace(chr(39), '')}@example.com",
                rng.choice(NOTES),
            ]
        )
    bad = [
        ["R-900001", "", "", "Missing", "Phone", "00001234", "Renters", "03/01/2026", "120.00", "", ""],
        ["R-900002", "555-0100", "", "Too", "Short", "00001235", "Renters", "03/01/2026", "120.00", "", ""],
        [
            "R-900003",
            "(999) 555-0101",
            "",
            "Bad",
            "AreaCode",
            "00001236",
            "Renters",
            "03/01/2026",
            "120.00",
            "",
            "",
        ],
        [
            "R-900004",
            "8.14404E+09",
            "",
            "Sci",
            "Notation",
            "00001237",
            "Auto Basic",
            "03/02/2026",
            "80.00",
            "",
            "",
        ],
        [
            "R-900005",
            "CALL-ME-NOW",
            "",
            "Letters",
            "Only",
            "00001238",
            "Auto Basic",
            "03/02/2026",
            "80.00",
            "",
            "",
        ],
        [
            "R-900006",
            "+44 20 7946 0000",
            "+19995550100",
            "Wrong",
            "CallerID",
            "00001239",
            "Umbrella",
            "03/03/2026",
            "300.00",
            "",
            "",
        ],
        [
            "R-900007",
            "212-555-01",
            "",
            "Truncated",
            "Number",
            "00001240",
            "Renters",
            "03/04/2026",
            "99.00",
            "",
            "",
        ],
    ]
    # Duplicates: the same handle again, and the same phone under a new handle.
    bad.append(
        [
            rows[5][0],
            "(415) 555-0177",
            "",
            "Dup",
            "Handle",
            "00001241",
            "Renters",
            "03/05/2026",
            "99.00",
            "",
            "",
        ]
    )
    bad.append(["R-900009", rows[7][1], "", "Dup", "Phone", "00001242", "Renters", "03/05/2026", "99.00", "", ""])
    # Numbers on the do-not-call list.
    dnc_numbers = [rows[11][1], rows[23][1], rows[42][1]]
    all_rows = rows[:]
    for k, row in enumerate(bad):
        all_rows.insert(50 + k * 97, row)
    OUT.mkdir(exist_ok=True)
    with (OUT / "demo-records.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(all_rows)
    with (OUT / "demo-dnc.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["phone", "source"])
        for n in dnc_numbers:
            writer.writerow([n, "customer request"])
    print(f"wrote {len(all_rows)} rows to {OUT / 'demo-records.csv'} and {len(dnc_numbers)} DNC numbers")


if __name__ == "__main__":
    main()
