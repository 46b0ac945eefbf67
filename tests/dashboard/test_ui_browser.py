"""The dashboard in a real browser: Debian's chromium (headless, by its executable path) driven by Playwright,
against the real service started by `ccr ui`, with two scripted fake providers and a commented JSON5 config.

Each page loads with no console error and is screenshotted (test-artifacts/dashboard/); a request through the
gateway shows in the live table within a second; a route edited in the form moves the next request and leaves every
other byte of the file alone; a wrong sign-in link, a page of another origin and a foreign Host are refused; no
response to the browser holds a provider key; a save racing an outside edit is refused with a clear message.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import anthropic
import pytest

from tests.support.browser import CHROMIUM_ARGS, ConsoleProblems, chromium, chromium_path, screenshot, sign_in_link
from tests.support.ccr_cli import CcrHome
from tests.support.fake_upstream import ScriptedUpstream, error_reply, openai_text_reply

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.process  # the real service, started by the real `ccr`

ALPHA_KEY = "sk-alpha-SECRET-0123456789abcdef"
BETA_KEY = "sk-beta-SECRET-fedcba9876543210"
CONFIG = """\
// ccrouter test config: comments, odd formatting and unknown keys must survive the dashboard
{
  // where it listens
  "HOST": "127.0.0.1",
  PORT: @PORT@,
  Providers: [
    { name: "alpha", api_base_url: "@ALPHA@/v1/chat/completions", api_key: "@ALPHA_KEY@", models: ["alpha-model"], },
    {
      "name": "beta",
      "api_base_url": '@BETA@/v1/chat/completions',
      "api_key": "@BETA_KEY@",  // written out on purpose: it must never reach the browser
      "models": ["beta-model", "beta-big"],
    },
  ],
  "Router": {
    "default": "alpha,alpha-model", // the everyday route
    "think": "beta,beta-big",
  },
  "Prices": {"alpha,alpha-model": {"input": 1, "output": 2, "cache_read": 0.1, "cache_write": 1}},
  "SomethingUnknown": {"kept": [1, 2, 3]},  /* not a ccrouter key: kept byte for byte */
}
"""


class Service:
    def __init__(self, ccr: CcrHome, alpha: ScriptedUpstream, beta: ScriptedUpstream) -> None:
        self.ccr, self.alpha, self.beta = ccr, alpha, beta

    @property
    def url(self) -> str:
        return self.ccr.url

    def sign_in_link(self) -> str:
        return sign_in_link(self.ccr)

    def signed_in_page(self, context: BrowserContext, route: str = "overview") -> Page:
        page = context.new_page()
        answer = page.goto(self.sign_in_link())
        assert answer is not None and answer.status == 200 and page.url.startswith(f"{self.url}/ui")
        assert [cookie["name"] for cookie in context.cookies()] == [f"ccr_ui_{self.ccr.port}"]
        page.goto(f"{self.url}/ui#/{route}")
        return page

    def send(self, text: str = "hello", *, stream: bool = False) -> tuple[str, str]:
        """A request through the gateway with the anthropic SDK: (its request id, the provider that served it)."""
        client = anthropic.Anthropic(base_url=self.url, api_key="unused", max_retries=0)
        try:
            raw = client.messages.with_raw_response.create(
                model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": text}], stream=stream
            )
            if stream:
                for _ in raw.parse():
                    pass
            return raw.headers["request-id"], raw.headers.get("x-ccr-provider", "")
        finally:
            client.close()


def _reply(received: Any) -> Any:
    body = received.body if isinstance(received.body, dict) else {}
    return openai_text_reply("Hello from the fake provider.", stream=bool(body.get("stream")))


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    chromium_path()  # fail first, with the fix, when the browser is missing
    alpha, beta = ScriptedUpstream().start(), ScriptedUpstream().start()
    alpha.default = beta.default = _reply
    ccr = CcrHome(tmp_path_factory.mktemp("dashboard"))
    text = CONFIG
    for name, value in {"@PORT@": str(ccr.port), "@ALPHA@": alpha.url, "@BETA@": beta.url}.items():
        text = text.replace(name, value)
    ccr.config_path.write_text(text.replace("@ALPHA_KEY@", ALPHA_KEY).replace("@BETA_KEY@", BETA_KEY))
    os.chmod(ccr.config_path, 0o600)
    try:
        started = ccr.run("start")
        assert started.returncode == 0, started.stderr
        yield Service(ccr, alpha, beta)
    finally:
        ccr.cleanup()
        alpha.stop()
        beta.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport={"width": 1400, "height": 900})
    yield made
    made.close()


def test_every_page_loads_without_console_errors(service: Service, context: BrowserContext) -> None:
    service.send("first")
    service.send("second, streamed", stream=True)
    page = service.signed_in_page(context)
    problems = ConsoleProblems(page)
    waits = {
        "overview": '[data-testid="totals"]',
        "requests": '[data-testid="request-row"]',
        "config": '[data-path="Router.default"]',
        "logs": '[data-testid="logs-body"]',
        "try": '[data-testid="try-target"]',
    }
    for name, ready in waits.items():
        page.click(f'[data-testid="nav-{name}"]')
        page.wait_for_selector(ready, timeout=10_000)
        if name == "config":  # the StatusLine preview: the line `ccr statusline` draws for a sample session
            preview = '[data-testid="statusline-preview"]'
            page.wait_for_selector(f'{preview}:has-text("think → deepseek,deepseek-reasoner")', timeout=10_000)
            assert "·  ·" not in page.inner_text(preview)
        page.wait_for_load_state("networkidle")
        screenshot(page, name)
    page.click('[data-testid="nav-requests"]')
    page.click('[data-testid="request-row"] >> nth=0')
    page.wait_for_selector('[data-testid="request-attempt"]')
    screenshot(page, "request-detail")
    page.click('[data-testid="nav-try"]')
    page.select_option('[data-testid="try-target"]', "default")
    page.fill('[data-testid="try-prompt"]', "Say hello")
    page.click('[data-testid="try-send"]')
    page.wait_for_selector('[data-testid="try-summary"]', timeout=10_000)
    assert "Hello from the fake provider." in page.inner_text('[data-testid="try-text"]')
    screenshot(page, "try-done")
    assert problems.seen == []


def test_a_request_shows_in_the_live_table_within_a_second(service: Service, context: BrowserContext) -> None:
    page = service.signed_in_page(context, "requests")
    page.wait_for_selector('[data-testid="live-indicator"][data-state="connected"]', timeout=10_000)
    request_id, _ = service.send("live, please")
    answered = time.monotonic()
    page.wait_for_selector(f'[data-testid="request-row"][data-request-id="{request_id}"]', timeout=1_000)
    assert time.monotonic() - answered < 1.0


def test_a_route_edited_in_the_form_moves_the_next_request_and_nothing_else(
    service: Service, context: BrowserContext
) -> None:
    before = service.ccr.config_path.read_text()
    assert '"default": "alpha,alpha-model"' in before
    page = service.signed_in_page(context, "config")
    page.wait_for_selector('[data-path="Router.default"] select, select[data-path="Router.default"]')
    page.select_option('select[data-path="Router.default"], [data-path="Router.default"] select', "beta,beta-model")
    page.click('[data-testid="config-review"]')
    diff = page.wait_for_selector('[data-testid="config-diff"]').inner_text()
    assert '+    "default": "beta,beta-model", // the everyday route' in diff
    page.click('[data-testid="config-save"]')
    page.wait_for_selector('[data-testid="config-success"]', timeout=10_000)
    screenshot(page, "config-saved")

    after = service.ccr.config_path.read_text()
    assert after == before.replace('"default": "alpha,alpha-model"', '"default": "beta,beta-model"')
    served_by_beta = len(service.beta.received)
    _, provider = service.send("which provider now?")
    assert provider == "beta" and len(service.beta.received) == served_by_beta + 1


def test_a_wrong_sign_in_link_gets_the_sign_in_page_and_no_cookie(service: Service, browser: Browser) -> None:
    outsider = browser.new_context()
    try:
        page = outsider.new_page()
        answer = page.goto(f"{service.url}/ui/sign-in?token=not-a-real-token")
        assert answer is not None and answer.status == 401
        page.wait_for_selector('[data-testid="signin"]')
        assert outsider.cookies() == []
        assert page.request.get(f"{service.url}/api/ui/config").status == 401
    finally:
        outsider.close()


def test_a_page_of_another_origin_cannot_act_with_the_cookie(service: Service, browser: Browser) -> None:
    signed_in = browser.new_context()
    evil = _EvilPage(service.url)
    try:
        service.signed_in_page(signed_in).close()  # the cookie stays in the context's jar
        page = signed_in.new_page()  # same browser, same cookie jar: a page of another origin on this machine
        before = len(service.alpha.received) + len(service.beta.received)
        with page.expect_response(lambda response: response.url.endswith("/api/ui/try"), timeout=10_000) as caught:
            page.goto(evil.url)  # its form posts itself to the dashboard at once
        assert caught.value.status == 403
        assert "own pages" in caught.value.text()
        service.send("a request of our own, after the page's")
        assert len(service.alpha.received) + len(service.beta.received) == before + 1  # its "try" never ran
    finally:
        evil.stop()
        signed_in.close()


def test_a_foreign_host_name_is_refused(service: Service, browser: Browser) -> None:
    """DNS rebinding: a foreign name that resolves to this machine (a second chromium, its resolver told so)."""
    args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.test 127.0.0.1"]
    rebinding = browser.browser_type.launch(executable_path=chromium_path(), args=args)
    try:
        rebound = rebinding.new_page()
        for path in ("/ui", "/api/ui/whoami", "/ui/static/app.js"):
            answer = rebound.goto(service.url.replace("127.0.0.1", "evil.test") + path)
            assert answer is not None and answer.status == 403, path
    finally:
        rebinding.close()


def test_no_response_to_the_browser_holds_a_provider_key(service: Service, context: BrowserContext) -> None:
    service.alpha.queue(error_reply(401, {"error": {"message": f"Incorrect API key provided: {ALPHA_KEY}"}}))
    service.beta.queue(error_reply(401, {"error": {"message": f"Incorrect API key provided: {BETA_KEY}"}}))
    with pytest.raises(anthropic.AuthenticationError, match=r"\[redacted\]"):
        service.send("this one fails with the key echoed back")
    bodies: list[bytes] = []
    seen: set[str] = set()
    context.on("response", lambda response: (bodies.append(_body_of(response)), seen.add(response.url)))
    page = service.signed_in_page(context)
    for name in ("overview", "requests", "logs", "config"):
        page.click(f'[data-testid="nav-{name}"]')
        page.wait_for_load_state("networkidle")
    page.fill('[data-testid="provider-key-input"] >> nth=0', "sk-typed-in-the-page-SECRET-1")
    page.keyboard.press("Tab")
    page.click('[data-testid="config-review"]')
    page.wait_for_selector('[data-testid="config-diff"]')
    page.click('[data-testid="nav-requests"]')
    page.click('[data-testid="request-row"] >> nth=0')
    page.wait_for_selector('[data-testid="request-attempt"]')
    page.wait_for_load_state("networkidle")
    assert {"/ui", "/api/ui/config", "/api/ui/config/check", "/api/ui/requests", "/api/ui/logs"} <= {
        url.removeprefix(service.url).partition("?")[0] for url in seen
    }
    for secret in (ALPHA_KEY, BETA_KEY, "sk-typed-in-the-page-SECRET-1"):
        leaking = [body[:200] for body in bodies if secret.encode() in body]
        assert not leaking, (secret, leaking)
        assert secret not in page.content()


def test_a_save_racing_an_outside_edit_is_refused(service: Service, context: BrowserContext) -> None:
    page = service.signed_in_page(context, "config")
    page.wait_for_selector('[data-path="Router.think"] select, select[data-path="Router.think"]')
    outside = service.ccr.config_path.read_text() + "// edited in an editor meanwhile\n"
    service.ccr.config_path.write_text(outside)
    page.select_option('select[data-path="Router.think"], [data-path="Router.think"] select', "alpha,alpha-model")
    page.click('[data-testid="config-review"]')
    conflict = page.wait_for_selector('[data-testid="config-conflict"]', timeout=10_000).inner_text()
    assert "changed on disk" in conflict
    screenshot(page, "config-conflict")
    assert service.ccr.config_path.read_text() == outside


def _body_of(response: Any) -> bytes:
    try:
        body: bytes = response.body()
    except Exception:  # a streamed answer still open, or a redirect: nothing to read
        return b""
    return body


class _EvilPage:
    """A web page of another origin (another port on 127.0.0.1, so the browser sends the router's cookie along)
    whose form posts a prompt to the dashboard's "try" as soon as it loads: a text/plain form body that is JSON
    (the classic cross-site request forgery, which needs no script the dashboard could block)."""

    def __init__(self, router_url: str) -> None:
        page = (
            "<!doctype html><html><head><title>evil</title></head><body>"
            f'<form id="f" method="post" action="{router_url}/api/ui/try" enctype="text/plain">'
            """<input type="hidden" name='{"target": "default", "prompt": "spend", "pad": "' value='"}'>"""
            "</form><script>document.getElementById('f').submit();</script></body></html>"
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
