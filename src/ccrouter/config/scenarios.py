"""The scenarios a request can be routed by: one name for each, shared by the config, routing, logs and headers."""

from __future__ import annotations

from enum import StrEnum


class Scenario(StrEnum):
    DEFAULT = "default"
    BACKGROUND = "background"  # Claude Code's chores: the session title and other auxiliary requests
    THINK = "think"  # the user asked for more reasoning (plan mode, "ultrathink", a higher effort, a budget)
    LONG_CONTEXT = "longContext"
    WEB_SEARCH = "webSearch"
    IMAGE = "image"
    SUBAGENT = "subagent"  # a subagent's request: its <CCR-SUBAGENT-MODEL> tag, its type's route, or Router.subagent
    COMPACTION = "compaction"  # Claude Code summarising the conversation (/compact, or automatically)
    EXPLICIT = "explicit"  # the request's model was "provider,model" (or a route or model /model discovered)
    CUSTOM = "custom"  # CUSTOM_ROUTER_PATH chose


# The `Router` keys that hold a "provider,model" target (CCR's spelling), in the order `ccr model` shows them.
ROUTE_SCENARIOS: tuple[Scenario, ...] = (
    Scenario.DEFAULT,
    Scenario.BACKGROUND,
    Scenario.THINK,
    Scenario.LONG_CONTEXT,
    Scenario.WEB_SEARCH,
    Scenario.IMAGE,
    Scenario.SUBAGENT,
    Scenario.COMPACTION,
)

# What counts as the user asking for more reasoning (`Router.thinkSignals`; all of them unless the config says).
THINK_SIGNALS = ("planMode", "ultrathink", "effort", "budget")
