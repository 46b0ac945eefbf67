"""Which targets are cooling down: skipped by every route until they have had a rest.

A target (a provider's model) cools down when it fails `failures` times within `window_ms`, or at once when it
answers 429 with a `Retry-After` (for that long, within `max_duration_ms`). A success forgets its failures. The
state belongs to the running service, not to a config: it survives hot reloads, keyed by "provider,model".
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ccrouter.policy import CooldownPolicy


@dataclass(slots=True)
class _TargetHealth:
    failures: deque[float] = field(default_factory=deque)  # monotonic times of recent failures
    cooling_until: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Cooling:
    target: str
    seconds_left: float
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"target": self.target, "seconds_left": round(self.seconds_left, 1), "reason": self.reason}


class Cooldowns:
    def __init__(self, capacity: int = 1024) -> None:
        self._health: dict[str, _TargetHealth] = {}
        self._capacity = capacity  # targets come from configs, so this only bounds a pathological reload loop

    def failed(
        self, target: str, reason: str, now: float, policy: CooldownPolicy, retry_after_s: float | None = None
    ) -> float:
        """Note a failure; returns the cool-down it started, in seconds (0 if none)."""
        health = self._health.get(target)
        if health is None:
            if len(self._health) >= self._capacity:
                self._health.pop(next(iter(self._health)))
            health = self._health[target] = _TargetHealth()
        window_start = now - policy.window_ms / 1000
        failures = health.failures
        failures.append(now)
        while failures and failures[0] < window_start:
            failures.popleft()
        if retry_after_s is not None and retry_after_s > 0:
            seconds = min(retry_after_s, policy.max_duration_ms / 1000)
        elif len(failures) >= policy.failures:
            seconds = policy.duration_ms / 1000
        else:
            return 0.0
        if seconds <= 0:
            return 0.0
        health.cooling_until = max(health.cooling_until, now + seconds)
        health.reason = reason
        failures.clear()
        return seconds

    def succeeded(self, target: str) -> None:
        health = self._health.get(target)
        if health is not None:
            health.failures.clear()
            health.cooling_until = 0.0

    def cooling(self, target: str, now: float) -> Cooling | None:
        health = self._health.get(target)
        if health is None or health.cooling_until <= now:
            return None
        return Cooling(target, health.cooling_until - now, health.reason)

    def all_cooling(self, now: float) -> list[Cooling]:
        found = (self.cooling(target, now) for target in self._health)
        return sorted((c for c in found if c is not None), key=lambda c: c.target)
