"""The dashboard in team mode (`Users`), against the real service started by the real `ccr`: the requests list and
the detail name whose key asked (a user, or "admin" for the APIKEY); the overview's series split by user are each
user's sums from the ledger; and in a real browser the row shows the user's label, the user filter keeps only that
user's rows, the detail has a "User" row, and the overview's "Split by" offers "user" and draws one line per user.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ccrouter.config.users_section import key_digest
from tests.support.browser import ConsoleProblems, chromium, chromium_path, screenshot, sign_in_link
from tests.support.ccr_cli import CcrHome, fake_provider_config
from tests.support.fake_upstream import ScriptedUpstream, openai_completion
from tests.support.router_setup import LOOPBACK
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.process  # the real service, started by the real `ccr`

APIKEY = "admin-key-0123456789abcdef"
ADMIN = {"x-api-key": APIKEY}
KEYS = {"ana": "ccr_ana-0123456789", "bo": "ccr_bo-0123456789"}
PROMPT_TOKENS = 12  # what the fake provider reports for every request (openai_completion)
SENT = {"ana": 2, "bo": 1, "admin": 1}  # requests per user, sent once for the module


class TeamService:
    def __init__(self, ccr: CcrHome, request_ids: dict[str, list[str]]) -> None:
        self.ccr = ccr
        self.request_ids = request_ids  # per user, in the order sent

    def get(self, path: str) -> Any:
        answer = LOOPBACK.get(self.ccr.url + path, headers=ADMIN, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()


def send(ccr: CcrHome, key: str) -> str:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]}
    answer = LOOPBACK.post(ccr.url + "/v1/messages", json=body, headers={"x-api-key": key}, timeout=30)
    assert answer.status_code == 200, answer.text
    return str(answer.headers["request-id"])


def overview_by_user(service: TeamService) -> dict[str, Any]:
    data: dict[str, Any] = service.get("/api/ui/overview?since=24h&bucket=hour&by=user")
    return data


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamService]:
    upstream = ScriptedUpstream().start()
    upstream.default = lambda received: openai_completion("fine", prompt=PROMPT_TOKENS)
    ccr = CcrHome(tmp_path_factory.mktemp("team-dashboard"))
    users = [{"name": name, "key_sha256": key_digest(key)} for name, key in KEYS.items()]
    ccr.write_config(fake_provider_config(upstream, ccr.port, APIKEY=APIKEY, Users=users))
    try:
        started = ccr.run("start")
        assert started.returncode == 0, started.stderr
        keys = {**KEYS, "admin": APIKEY}
        request_ids = {user: [send(ccr, keys[user]) for _ in range(count)] for user, count in SENT.items()}
        service = TeamService(ccr, request_ids)
        wait_until(lambda: overview_by_user(service)["totals"]["requests"] == 4, "the ledger's rows are written")
        yield service
    finally:
        ccr.cleanup()
        upstream.stop()


def test_the_lists_and_details_name_the_user_and_the_overview_splits_by_user(team: TeamService) -> None:
    listed = {row["request_id"]: row["user"] for row in team.get("/api/ui/requests?limit=50")["requests"]}
    assert listed == {request_id: user for user, ids in team.request_ids.items() for request_id in ids}
    [bos] = team.request_ids["bo"]
    assert team.get(f"/api/ui/requests/{bos}")["user"] == "bo"

    overview = overview_by_user(team)
    assert overview["by"] == "user"
    assert overview["groups"] == ["ana", "admin", "bo"]  # the busiest first, ties by name
    requests = {group: sum(values) for group, values in overview["series"]["requests"].items()}
    assert requests == SENT
    tokens = {group: sum(values) for group, values in overview["series"]["input_tokens"].items()}
    assert tokens == {user: count * PROMPT_TOKENS for user, count in SENT.items()}


def test_the_page_shows_filters_and_charts_by_user(team: TeamService) -> None:
    chromium_path()  # fail first, with the fix, when the browser is missing
    link = sign_in_link(team.ccr)
    with chromium() as browser:
        page: Page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        problems = ConsoleProblems(page)
        page.goto(link)
        page.goto(f"{team.ccr.url}/ui#/requests")
        [bos] = team.request_ids["bo"]
        bo_row = f'[data-testid="request-row"][data-request-id="{bos}"]'
        page.wait_for_selector(bo_row, timeout=10_000)
        assert page.inner_text(f'{bo_row} [data-testid="request-user"]') == "bo"
        labels = page.locator('[data-testid="request-user"]').all_inner_texts()
        assert sorted(labels) == ["admin", "ana", "ana", "bo"]

        page.fill('[data-testid="filter-user"]', "BO")  # names match whatever their case
        page.wait_for_selector('[data-testid="request-user"]:text-is("ana")', state="detached", timeout=10_000)
        assert page.locator('[data-testid="request-user"]').all_inner_texts() == ["bo"]  # the list is redrawn at once
        page.click(bo_row)
        page.wait_for_selector('[data-testid="request-attempt"]', timeout=10_000)
        assert "User\nbo" in page.inner_text('[data-testid="request-detail-fields"]')
        screenshot(page, "requests-of-a-user")

        page.click('[data-testid="nav-overview"]')
        page.wait_for_selector('[data-testid="chart-requests"]', timeout=10_000)
        page.select_option('[data-testid="overview-by"]', "user")
        legend = '[data-testid="chart-requests"] .u-legend'
        page.wait_for_selector(f'{legend}:has-text("ana")', timeout=10_000)
        assert all(user in page.inner_text(legend) for user in SENT)
        screenshot(page, "overview-by-user")
        assert problems.seen == []
