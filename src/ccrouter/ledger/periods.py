"""Periods in local time: where a budget's day or month starts and ends, and what `--since` means.

Local time is the process's (`TZ`, else the system's), the same that SQLite's 'localtime' uses for `--by day`.
Daylight-saving changes are handled by the C library: a day can last 23 or 25 hours.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

Period = Literal["day", "month"]
_SPAN = re.compile(r"^\s*(\d{1,6})\s*([hd])\s*$", re.IGNORECASE)


def period_start(period: Period, now: float) -> float:
    """The Unix time at which the local day or month holding `now` began."""
    moment = datetime.fromtimestamp(now)
    start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        start = start.replace(day=1)
    return start.timestamp()


def next_period_start(period: Period, now: float) -> float:
    """The Unix time at which the local day or month after the one holding `now` begins (a budget's reset)."""
    start = datetime.fromtimestamp(period_start(period, now))
    if period == "month":
        following = (
            start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        )
    else:
        following = (start + timedelta(days=1, hours=12)).replace(hour=0)  # 12 h past: safe across a 23/25 h day
    return following.timestamp()


def parse_since(text: str, now: float) -> float:
    """`--since`: "24h" or "7d" back from `now`, or "YYYY-MM-DD" (that day's local midnight), as Unix time.
    Raises ValueError with what to write instead."""
    span = _SPAN.match(text)
    if span:
        count, unit = int(span.group(1)), span.group(2).lower()
        return now - count * (3600 if unit == "h" else 86400)
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"--since {text!r} is not a span or a date; use 24h, 7d, 30d or YYYY-MM-DD.") from None
    return day.timestamp()


def local_time_text(moment: float) -> str:
    """A moment as people read it in messages: "2025-07-01 00:00" in local time."""
    return datetime.fromtimestamp(moment).strftime("%Y-%m-%d %H:%M")
