"""`ccr activate` (and its CCR name, `ccr env`): shell lines that give the current shell the environment `ccr code`
gives Claude Code, so that a plain `claude` goes through the router: `eval "$(ccr activate)"`.

CCR 1.0.73 prints `export KEY="value"` for ANTHROPIC_AUTH_TOKEN, ANTHROPIC_BASE_URL, NO_PROXY, DISABLE_TELEMETRY,
DISABLE_COST_WARNINGS and API_TIMEOUT_MS, `export ANTHROPIC_API_KEY=""`, and `unset CLAUDE_CODE_USE_BEDROCK`. Here
the values are those of `claude_code.claude_env` (the same as `ccr code`), quoted for the shell (CCR's double
quotes break on a `$` or `"` in an APIKEY), and the user's own ANTHROPIC_API_KEY is unset rather than emptied.
`NON_INTERACTIVE_MODE`'s variables (TERM=dumb, CI=true, ...) are left out: they are for Claude Code's process
only and would change how the whole shell behaves. When no router answers at the URL, a warning on stderr says so
(the lines are printed all the same).
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

import click

from ccrouter.cli.options import Options
from ccrouter.service.claude_code import claude_env
from ccrouter.service.client import client_host, health_ok, service_url

if TYPE_CHECKING:
    from ccrouter.config.model import Config

# Unset in the shell: the user's own Anthropic key must not go to the router (nor be used instead of it), and
# Claude Code must not talk to Bedrock (CCR unsets this one too) or Vertex instead of the router.
UNSET = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX")


def activate_env(config: Config, environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(variables to export, variable names to unset) for a shell whose environment is `environ`."""
    host = client_host(config.host, config.apikey)
    url = service_url(host, config.port)

    def for_claude(base: Mapping[str, str]) -> dict[str, str]:
        return claude_env(base, url, host, config.apikey, config.api_timeout_ms, non_interactive=False)

    env = for_claude(environ)
    fresh = for_claude({})  # every variable it sets, whatever the shell has
    exports = {key: env[key] for key in fresh}
    exports.update((key, value) for key, value in env.items() if key not in fresh and environ.get(key) != value)
    unset = [*UNSET, *(key for key in environ if key not in env and key not in UNSET)]
    return exports, unset


def activate_lines(config: Config, environ: Mapping[str, str]) -> list[str]:
    """`export KEY=value` and `unset KEY` lines for POSIX shells (bash, zsh, dash)."""
    exports, unset = activate_env(config, environ)
    lines = [f"export {key}={shlex.quote(value)}" for key, value in exports.items()]
    lines += [f"unset {key}" for key in unset]
    return lines


@click.command()
@click.pass_obj
def activate(options: Options) -> None:
    """Print `export` lines that route a plain `claude` through the router: eval "$(ccr activate)"."""
    config = options.load(run_user_code=False)  # it only needs where the router listens
    click.echo("\n".join(activate_lines(config, os.environ)))
    host = client_host(config.host, config.apikey)
    if not health_ok(host, config.port, timeout=0.5):
        # The lines are right anyway (the router may start later); but a `claude` run now would find no one.
        click.echo(f"ccr: no router answers at {service_url(host, config.port)}; start it with `ccr start`", err=True)
    if sys.stdout.isatty():
        click.echo('ccr: to apply these to this shell, run: eval "$(ccr activate)"', err=True)


@click.command(name="env", hidden=True)
@click.pass_context
def env_command(ctx: click.Context) -> None:
    """CCR's other name for `activate`."""
    ctx.invoke(activate)
