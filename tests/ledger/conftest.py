"""Every ledger test runs in a fixed local zone (UTC+10), so a local day and a UTC day differ."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.ledger.support import LOCAL_TZ, set_zone


@pytest.fixture(autouse=True)
def local_zone() -> Iterator[None]:
    before = os.environ.get("TZ")
    set_zone(LOCAL_TZ)
    yield
    set_zone(before)
