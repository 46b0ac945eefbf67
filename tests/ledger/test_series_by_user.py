"""The dashboard's series split by user (team mode), in SQLite and PostgreSQL alike: each user's requests, errors,
tokens, cost and savings per bucket are the sums of their rows, worked out here by hand; rows written without
`Users` (no user) are the "(none)" group; past eight users the rest fold into "other"."""

from __future__ import annotations

from ccrouter.ledger.aggregate import MAX_SERIES_GROUPS, NO_GROUP, OTHER_GROUP
from tests.ledger.both_stores import Stored, stored_fixture  # noqa: F401 (fixtures)
from tests.ledger.support import local, row
from tests.support.postgres_server import open_ledger_fixture, postgres_server_fixture, postgres_url_fixture  # noqa: F401

HOUR = 3600


def test_the_series_by_user_sums_each_users_rows_per_hour(stored: Stored) -> None:
    since, until = local(2025, 3, 10, 12), local(2025, 3, 10, 14, 30)
    ledger = stored(
        [
            row(time=local(2025, 3, 10, 11, 59), user_name="ana", input_tokens=999),  # before the window
            row(time=local(2025, 3, 10, 12, 5), user_name="ana", input_tokens=100, output_tokens=10,
                cost_usd=0.001, baseline_cost_usd=0.01),
            row(time=local(2025, 3, 10, 12, 50), user_name="ana", input_tokens=200, output_tokens=20,
                cost_usd=0.002, baseline_cost_usd=0.02),
            row(time=local(2025, 3, 10, 13, 10), user_name="ana", status=502, cost_usd=None),
            row(time=local(2025, 3, 10, 12, 30), user_name="bo", input_tokens=40, output_tokens=4, cost_usd=0.0004),
            row(time=local(2025, 3, 10, 14, 15), user_name="bo", status=403),
            row(time=local(2025, 3, 10, 13, 20), user_name="admin", input_tokens=7, output_tokens=1,
                cost_usd=0.00007, baseline_cost_usd=0.0007),
            row(time=local(2025, 3, 10, 14, 20), user_name=None, input_tokens=3),  # written before Users
        ]
    )  # fmt: skip
    series = ledger.series(since, until, "hour", "user").as_dict()
    assert series["by"] == "user"
    assert series["groups"] == ["ana", "bo", NO_GROUP, "admin"]  # the busiest first, ties by name
    values = series["series"]
    assert values["requests"] == {"ana": [2, 1, 0], "bo": [1, 0, 1], "admin": [0, 1, 0], NO_GROUP: [0, 0, 1]}
    assert values["errors"] == {"ana": [0, 1, 0], "bo": [0, 0, 1], "admin": [0, 0, 0], NO_GROUP: [0, 0, 0]}
    assert values["input_tokens"] == {"ana": [300, 0, 0], "bo": [40, 0, 0], "admin": [0, 7, 0], NO_GROUP: [0, 0, 3]}
    assert values["output_tokens"]["ana"] == [30, 0, 0]
    assert values["cost_usd"] == {"ana": [0.003, 0, 0], "bo": [0.0004, 0, 0], "admin": [0, 0.00007, 0],
                                  NO_GROUP: [0, 0, 0]}  # fmt: skip
    assert values["savings_usd"] == {"ana": [0.027, 0, 0], "bo": [0, 0, 0], "admin": [0, 0.00063, 0],
                                     NO_GROUP: [0, 0, 0]}  # fmt: skip
    assert series["totals"]["requests"] == 7


def test_past_eight_users_the_quietest_fold_into_other(stored: Stored) -> None:
    users = [f"user{number}" for number in range(MAX_SERIES_GROUPS + 2)]
    rows = [
        row(time=local(2025, 3, 10, 12, 1 + copy), user_name=name, input_tokens=10)
        for position, name in enumerate(users)
        for copy in range(len(users) - position)  # user0 busiest, the last two quietest
    ]
    series = stored(rows).series(local(2025, 3, 10, 12), local(2025, 3, 10, 12, 59), "hour", "user").as_dict()
    assert series["groups"] == [*users[:MAX_SERIES_GROUPS], OTHER_GROUP]
    assert series["series"]["requests"][OTHER_GROUP] == [2 + 1]
    assert series["series"]["input_tokens"]["user0"] == [10 * len(users)]
