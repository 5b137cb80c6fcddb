"""Catering: a week of lunch choices, and the cashless accounts that pay for them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from authserver.demo.school_data.academic_year import AcademicYear, local_time
from authserver.demo.school_data.attendance import Marks, absent_all_day
from authserver.demo.school_data.school import SchoolProfile
from authserver.demo.school_data.source import Source
from authserver.demo.school_data.structure import year_number
from authserver.demo.school_data.students import Roll
from authserver.demo.school_data.writer import Writer
from authserver.models.mis import CashlessAccount, CashlessTransaction, MealChoice

MENU = [
    "Roast chicken",
    "Vegetable lasagne",
    "Fish and chips",
    "Jacket potato",
    "Chickpea curry",
    "Pasta bake",
]
PRIMARY_MEALS = [("Hot meal", 60), ("Packed lunch", 40)]
SECONDARY_MEALS = [("Hot meal", 45), ("Grab and go", 20), ("Packed lunch", 25), ("Off site", 10)]


def insert_catering(
    writer: Writer,
    source: Source,
    profile: SchoolProfile,
    year: AcademicYear,
    roll: Roll,
    marks: Marks,
) -> None:
    """A week of lunch choices for pupils in school, and cashless accounts paying for them."""
    rng, primary = source.rng, profile.primary
    days = year.days[-5:] or [year.recent_day(rng)]
    options = PRIMARY_MEALS if primary else SECONDARY_MEALS
    choices = []
    spend: dict[int, list[tuple[dt.date, int]]] = defaultdict(list)
    for pupil in roll.current:
        # Infants' lunches are free (universal infant free school meals).
        free = pupil.row["fsm_eligible"] or (primary and pupil.year in {"R", "1", "2"})
        for day in days:
            if absent_all_day(marks, pupil.id, day):
                continue
            meal = source.weighted(options)[0]
            if meal == "Off site" and year_number(pupil.year) < 12:
                meal = "Packed lunch"
            choice = rng.choice(MENU) if meal in {"Hot meal", "Grab and go"} else None
            choices.append(
                {"student_id": pupil.id, "date": day, "meal": meal, "menu_option": choice}
            )
            if choice and not free:
                spend[pupil.id].append((day, 260 if meal == "Hot meal" else 220))
    writer.insert(MealChoice, choices)

    accounts, balances = [], []
    for n, pupil in enumerate(roll.current, start=1):
        spent = sum(amount for _, amount in spend[pupil.id])
        # Parents top up in round sums, enough to cover the week.
        top_up = 0 if not spent else max(rng.choice([1000, 1500, 2000]), -(-spent // 500) * 500)
        accounts.append(
            {
                "student_id": pupil.id,
                "account_reference": f"CL{profile.id:03d}{n:05d}",
                "balance_pence": top_up - spent,
                "daily_limit_pence": 500 if not primary else None,
                "is_active": True,
            }
        )
        balances.append(top_up)
    account_ids = writer.insert(CashlessAccount, accounts, ids=True)
    transactions = []
    for account_id, pupil, top_up in zip(account_ids, roll.current, balances, strict=True):
        if top_up:
            first = spend[pupil.id][0][0] - dt.timedelta(days=1)
            transactions.append(
                {
                    "account_id": account_id,
                    "occurred_at": local_time(first, dt.time(19, rng.randint(0, 59))),
                    "transaction_type": "Top-up",
                    "amount_pence": top_up,
                    "description": "Online payment by parent",
                }
            )
        for day, amount in spend[pupil.id]:
            transactions.append(
                {
                    "account_id": account_id,
                    "occurred_at": local_time(day, dt.time(12, rng.randint(10, 50))),
                    "transaction_type": "Purchase",
                    "amount_pence": -amount,
                    "description": "Lunch",
                }
            )
    writer.insert(CashlessTransaction, transactions)
