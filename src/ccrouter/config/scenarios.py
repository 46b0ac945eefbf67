"""The scenarios a request can be routed by: one name for each, shared by the config, routing, logs and headers."""

from __future__ import annotations

from enum import StrEnum


class Scenario(StrEnum):
    DEFAULT = "default"
    BACKGROUND = "background"
    THINK = "think"
    LONG_CONTEXT = "longContext"
    WEB_SEARCH = "webSearch"
    IMAGE = "image"
    SUBAGENT = "subagent"  # a <CCR-SUBAGENT-MODEL> tag named the target
    EXPLICIT = "explicit"  # the request's model was "provider,model"
    CUSTOM = "custom"  # CUSTOM_ROUTER_PATH chose


# The `Router` keys that hold a "provider,model" target (CCR's spelling), in the order `ccr model` shows them.
ROUTE_SCENARIOS: tuple[Scenario, ...] = (
    Scenario.DEFAULT,
    Scenario.BACKGROUND,
    Scenario.THINK,
    Scenario.LONG_CONTEXT,
    Scenario.WEB_SEARCH,
    Scenario.IMAGE,
)
