"""`ccr ui`: start the service if needed, get a one-time sign-in link from it and open the dashboard.

The link comes from the service itself (`POST /api/ui/sign-in-tokens`), proved to be asked for by the service's
own user by the secret it wrote beside its config (`ui.secret`, 0600). It signs one browser in, once, within two
minutes. The link is always printed as well: over SSH, or with no browser, paste it into a browser that reaches
the router (an SSH tunnel: `ssh -L PORT:127.0.0.1:PORT host`).
"""

from __future__ import annotations

import json
import os
import sys
import webbrowser
from pathlib import Path

import click

from ccrouter.cli.options import Options
from ccrouter.cli.service_commands import ensure_started
from ccrouter.errors import ServiceError
from ccrouter.paths import UI_SECRET_FILE
from ccrouter.service.client import request, service_url

SECRET_HEADER = "x-ccr-ui-secret"  # as dashboard/security.py reads it
TIMEOUT_S = 5.0


@click.command("ui")
@click.option("--no-browser", is_flag=True, help="Only print the sign-in link; do not open a browser.")
@click.pass_obj
def ui(options: Options, no_browser: bool) -> None:
    """Open the dashboard (starting the service if needed): usage, live requests, config, logs."""
    info = ensure_started(options, quiet=True)
    secret_path = Path(info.config).parent / UI_SECRET_FILE
    try:
        secret = secret_path.read_text().strip()
    except OSError as exc:
        raise ServiceError(
            f"cannot read the dashboard's sign-in secret {secret_path} ({exc.strerror or exc}). Run `ccr ui` as the "
            "user who started the service, or `ccr restart` to write a new one."
        ) from None
    try:
        status, body = request(
            "POST", info.host, info.port, "/api/ui/sign-in-tokens", timeout=TIMEOUT_S, headers={SECRET_HEADER: secret}
        )
    except OSError as exc:
        raise ServiceError(
            f"the service at {info.url} did not answer ({exc}); see `ccr status` and `ccr logs`."
        ) from None
    if status != 200:
        raise ServiceError(
            f"the service at {info.url} refused a sign-in link (HTTP {status}): {_message(body)} "
            "If it runs an older ccrouter without the dashboard, run `ccr restart`."
        )
    link = service_url(info.host, info.port) + json.loads(body)["path"]
    click.echo(f"Dashboard: {link}")
    click.echo("(the link signs one browser in, once, within 2 minutes; run `ccr ui` again for another)")
    if not no_browser and not _open(link):
        click.echo("No browser could be opened here: open the link above in a browser that reaches this machine.")


def _open(link: str) -> bool:
    """Open `link` in a graphical browser. On Linux only with a display: without one, Python's webbrowser would
    start a text browser (lynx, w3m) in this terminal, which cannot run the dashboard."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        return webbrowser.open(link, new=2)
    except webbrowser.Error:
        return False


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        return body[:300].decode("utf-8", "replace")
