"""Whether a request followed its turn's pin shows in the session activity (`ccr statusline`) and `ccr logs`."""

from __future__ import annotations

from ccrouter.cli.log_table import route_label
from ccrouter.gateway.records import RequestRecord
from ccrouter.gateway.sessions import SessionActivity


def test_session_activity_keeps_whether_the_latest_request_was_pinned() -> None:
    activity = SessionActivity()
    record = RequestRecord("r1", 0.0, session_id="s", scenario="think", provider="p", model="m", status=200)
    record.pinned = True
    activity(record)
    stats = activity.get("s")
    assert stats is not None and stats.as_dict()["pinned"] is True and stats.scenario == "think"
    activity(RequestRecord("r2", 0.0, session_id="s", scenario="default", provider="p", model="m", status=200))
    assert activity.get("s").as_dict()["pinned"] is False  # type: ignore[union-attr]


def test_the_log_table_marks_pinned_requests() -> None:
    entry = {"scenario": "subagent:Explore", "provider": "p", "model": "explore", "pinned": True}
    assert route_label(entry) == "subagent:Explore (pinned) -> p,explore"
    assert route_label({**entry, "pinned": False}) == "subagent:Explore -> p,explore"
    assert "turn" not in RequestRecord("r", 0.0).as_dict()  # the pin key stays out of the log
