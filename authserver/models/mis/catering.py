"""Catering: pupils' meal choices and cashless catering accounts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from authserver.extensions import db
from authserver.models.columns import UTCDateTime
from authserver.models.mis.base import MisRecord


class MealChoice(MisRecord, db.Model):
    """What a pupil has for lunch on a day."""

    __tablename__ = "mis_meal_choices"
    __entity__ = "meal_choice"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    date: Mapped[dt.date] = mapped_column(index=True)
    meal: Mapped[str] = mapped_column(String(50))
    menu_option: Mapped[str | None] = mapped_column(String(100))


class CashlessAccount(MisRecord, db.Model):
    """A pupil's cashless catering account; money is in pence to stay exact."""

    __tablename__ = "mis_cashless_accounts"
    __entity__ = "cashless_account"

    student_id: Mapped[int] = mapped_column(ForeignKey("mis_students.id"), index=True)
    account_reference: Mapped[str] = mapped_column(String(30))
    balance_pence: Mapped[int] = mapped_column(default=0)
    daily_limit_pence: Mapped[int | None]
    is_active: Mapped[bool] = mapped_column(default=True)


class CashlessTransaction(MisRecord, db.Model):
    """A top-up, purchase or refund on a cashless account (purchases are negative)."""

    __tablename__ = "mis_cashless_transactions"
    __entity__ = "cashless_transaction"

    account_id: Mapped[int] = mapped_column(ForeignKey("mis_cashless_accounts.id"), index=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    transaction_type: Mapped[str] = mapped_column(String(20))
    amount_pence: Mapped[int]
    description: Mapped[str | None] = mapped_column(String(200))
