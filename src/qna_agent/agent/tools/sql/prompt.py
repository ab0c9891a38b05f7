"""What the system prompt adds when the data tools are on: the dialect, and today's date.

The model knows no date of its own, and questions about data are full of "last month".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

# Not strftime's %A: that follows the process locale, and the model reads English here.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def sql_prompt(dialect: str, today: date) -> str:
    """What the system prompt adds when the data tools are on, as of `today` (UTC)."""
    return (
        f"You can also query the organisation's analytics database ({dialect}, read-only) with "
        "list_tables, describe_table and run_sql: use them for questions about data such as "
        "customers, products, orders or returns. Look at the tables before you write a query, "
        "and cite a query result as [ref] like a document. "
        f"Today is {WEEKDAYS[today.weekday()]} {today.isoformat()} (UTC): turn relative dates "
        "such as 'last month' or 'this year' into explicit date ranges from it."
    )


def _now() -> datetime:
    return datetime.now(UTC)


def sql_system_prompt(
    base: str, dialect: str, *, clock: Callable[[], datetime] = _now
) -> Callable[[], str]:
    """The system prompt with the data tools, dated afresh on every call (once per turn):
    the model knows no date of its own, and a service runs for longer than a day."""

    def prompt() -> str:
        return f"{base}\n\n{sql_prompt(dialect, clock().astimezone(UTC).date())}"

    return prompt
