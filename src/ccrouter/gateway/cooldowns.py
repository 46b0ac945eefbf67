"""Which targets are cooling down: skipped by every route until they have had a rest.

A target (a provider's model) cools down when, within `window_ms`, it failed at least `failures` times and at
least as often as it succeeded; or at once when it answers 429 with a `Retry-After` (for that long, within
`max_duration_ms`). Counting successes too matters under load: a failure is known in milliseconds while a success
is known only at its first token, so a plain count of failures since the last success would rest a provider that
fails one request in twenty most of the time.

Only a request that started after the rest began can end it early (by succeeding): replies already in flight say
nothing about the state the provider reported. The state belongs to the running service, not to a config: it
survives hot reloads, keyed by "provider,model".
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ccrouter.config.policy import CooldownPolicy


@dataclass(slots=True)
class _TargetHealth:
    # Outcomes per whole second in the window: [second, failures, successes]; at most one entry per second.
    seconds: deque[list[int]] = field(default_factory=deque)
    cooling_since: float = 0.0
    cooling_until: float = 0.0
    reason: str = ""

    def note(self, now: float, failed: bool, window_s: float) -> None:
        """Count one outcome."""
        second = int(now)
        seconds = self.seconds
        if not seconds or seconds[-1][0] != second:
            seconds.append([second, 0, 0])
            while seconds[0][0] < now - window_s:
                seconds.popleft()
        seconds[-1][1 if failed else 2] += 1

    def counts(self) -> tuple[int, int]:
        """(failures, successes) within the window."""
        return sum(s[1] for s in self.seconds), sum(s[2] for s in self.seconds)


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
        """Note a failure; returns the length of a cool-down it started, in seconds (0 if none started: also when
        the target was cooling already, in which case a longer Retry-After extends the rest quietly)."""
        health = self._health_of(target)
        health.note(now, True, policy.window_ms / 1000)
        failures, successes = health.counts()
        if retry_after_s is not None and retry_after_s > 0:
            seconds = min(retry_after_s, policy.max_duration_ms / 1000)
        elif failures >= policy.failures and failures >= successes:
            seconds = policy.duration_ms / 1000
        else:
            return 0.0
        if seconds <= 0:
            return 0.0
        was_cooling = health.cooling_until > now
        if not was_cooling:
            health.cooling_since = now
            health.seconds.clear()  # a fresh count once the rest is over
        health.cooling_until = max(health.cooling_until, now + seconds)
        health.reason = reason
        return 0.0 if was_cooling else seconds

    def succeeded(self, target: str, started: float, now: float, policy: CooldownPolicy) -> None:
        """Note a success of an attempt that began at `started`."""
        health = self._health_of(target)
        health.note(now, False, policy.window_ms / 1000)
        if health.cooling_until > now and started >= health.cooling_since:
            health.cooling_until = 0.0  # tried while resting (every target was) and it served: rested enough

    def cooling(self, target: str, now: float) -> Cooling | None:
        health = self._health.get(target)
        if health is None or health.cooling_until <= now:
            return None
        return Cooling(target, health.cooling_until - now, health.reason)

    def all_cooling(self, now: float) -> list[Cooling]:
        found = (self.cooling(target, now) for target in self._health)
        return sorted((c for c in found if c is not None), key=lambda c: c.target)

    def _health_of(self, target: str) -> _TargetHealth:
        health = self._health.get(target)
        if health is None:
            if len(self._health) >= self._capacity:
                self._health.pop(next(iter(self._health)))
            health = self._health[target] = _TargetHealth()
        return health
