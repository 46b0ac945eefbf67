"""A request record as its ledger row: every column from its own field, positionally (the writer's thread makes the
row, so a field out of place would be stored silently under another column's name)."""

from __future__ import annotations

import json

from ccrouter.config.model import Provider, Target
from ccrouter.gateway.records import Attempt, RequestRecord
from ccrouter.ledger.rows import COLUMNS


def test_every_column_comes_from_its_own_field() -> None:
    provider = Provider("prov", "http://127.0.0.1:9/v1", None, ("m",))
    record = RequestRecord(
        "req_1",
        1_700_000_000.5,
        session_id="session-1",
        user="ana",
        project="/home/ana/app",
        requested_model="claude-sonnet-4-5",
        scenario="think",
        provider="prov",
        model="m",
        status=200,
        latency_ms=812.5,
        ttft_ms=120.25,
        input_tokens=11,
        output_tokens=22,
        cache_read_input_tokens=33,
        cache_creation_input_tokens=44,
        cost_usd=0.5,
        baseline_cost_usd=1.5,
        prices='{"cost": {}}',
        attempts=[Attempt(Target(provider, "m"), 503, "busy", 10.0), Attempt(Target(provider, "m"), 200, None, 800.0)],
    )
    row = record.ledger_row()
    assert len(row) == len(COLUMNS)
    assert row._asdict() == {
        "time": 1_700_000_000.5,
        "request_id": "req_1",
        "status": 200,
        "session_id": "session-1",
        "project": "/home/ana/app",
        "scenario": "think",
        "provider": "prov",
        "model": "m",
        "requested_model": "claude-sonnet-4-5",
        "attempts": row.attempts,
        "latency_ms": 812.5,
        "ttft_ms": 120.25,
        "input_tokens": 11,
        "output_tokens": 22,
        "cache_read_tokens": 33,
        "cache_write_tokens": 44,
        "cost_usd": 0.5,
        "baseline_cost_usd": 1.5,
        "prices": '{"cost": {}}',
        "user_name": "ana",
    }
    assert json.loads(row.attempts) == [
        {"target": "prov,m", "status": 503, "error": "busy", "ms": 10.0},
        {"target": "prov,m", "status": 200, "error": None, "ms": 800.0},
    ]
    assert "prices" not in record.as_dict()  # the log line and the API do not carry it
