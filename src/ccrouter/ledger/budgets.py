"""Spending caps: what each budget has spent this period, and what a new request in its scope may do.

The spend of each budget's current period is read from the ledger at start (a restart does not reset it) and kept
current by `charge`, called with every row as its request ends. `check` is asked before a request is sent:
fine; a warning (once per budget and period, when its spend passes `warn_at`); over the cap -> send it to the
budget's `then` (which may itself be over another budget: followed, at most once per budget), or refuse it with
HTTP 429 naming the budget, its spend and when it resets.

Under concurrency: `check` and `charge` take one lock, and spend only grows, so once a charge has lifted a budget to
its cap every later `check` answers over. The requests that pass the cap are therefore exactly those admitted
before that charge and still in flight; no reservation is needed for that bound. (A reservation of estimated
costs could admit fewer of them, at the price of refusing requests that would have fitted; not done.) Rows with
no known price add nothing: a budget cannot see what is not priced, and their hint says how to price them.

Several routers (`STATE_URL`) share each budget's spend through the gateway: every budget's current period has a
`key` (the budget's name and period start); `charge` returns what it added under each key, for the gateway to add
to the shared total, and `adopt` takes the shared totals in. Spend only grows within a period, so the larger of this
process's figure and the shared one is the truer: `adopt` never lowers a budget's spend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ccrouter.config.budget_rules import BudgetRule
from ccrouter.errors import GatewayError
from ccrouter.ledger.faults import LedgerError
from ccrouter.ledger.periods import local_time_text, next_period_start, period_start
from ccrouter.ledger.rows import LedgerRow
from ccrouter.ledger.store import LedgerStore, SpendScope

State = Literal["ok", "warn", "over"]
KEEP_PAST_PERIOD_S = 3600.0  # a shared total outlives its period by this much: the routers' clocks may differ


@dataclass(frozen=True, slots=True)
class BudgetDecision:
    target: tuple[str, str] | None = None  # (provider, model) to send the request to instead; None: as routed
    budget: str | None = None  # the budget that changed the route or refused it (`x-ccr-budget`)
    refusal: str | None = None  # the 429 message, when refused
    warnings: tuple[str, ...] = ()  # budgets that have just passed their warn_at (each once per period)

    @property
    def refused(self) -> bool:
        return self.refusal is not None

    def error(self) -> GatewayError:
        """The client's answer to a refused request: 429 rate_limit_error, which Claude Code shows."""
        return GatewayError(429, self.refusal or "A budget is spent.", "rate_limit_error")


@dataclass(frozen=True, slots=True)
class PeriodSpend:
    """One budget's current period as the routers sharing its spend name it: `key`, this process's `spent` so far
    (what a shared total that is missing starts from), and when the shared total may be forgotten (Unix time)."""

    key: str
    spent: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class Charge:
    """What one finished request added to one budget's current period (`spent_before`: the spend it found)."""

    key: str
    usd: float
    spent_before: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """One budget now: for `ccr status`, the statusline and `ccr_budget_spent_usd`."""

    name: str
    scope: str
    period: str
    usd: float
    spent_usd: float
    warn_at: float
    state: State
    resets_at: float  # Unix time

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope": self.scope,
            "period": self.period,
            "usd": self.usd,
            "spent_usd": round(self.spent_usd, 8),
            "warn_at": self.warn_at,
            "state": self.state,
            "resets_at": self.resets_at,
        }


class _Budget:
    """A rule and its spend in the current period."""

    def __init__(self, rule: BudgetRule, now: float, user: str | None) -> None:
        self.rule = rule
        self.owner = "user" if user is not None else "all"  # a user's budget is named "<user>/<name>"
        self.scope = SpendScope(rule.scope.provider, rule.scope.model, rule.scope.route, rule.then, user)
        self.start = period_start(rule.period, now)
        self.resets_at = next_period_start(rule.period, now)
        self.spent = 0.0
        self.warned = False

    def roll(self, now: float) -> None:
        if now >= self.resets_at:
            self.start = period_start(self.rule.period, now)
            self.resets_at = next_period_start(self.rule.period, now)
            self.spent, self.warned = 0.0, False

    @property
    def key(self) -> str:
        """The current period's name among routers: unique per budget and period."""
        return f"{self.owner}:{self.rule.name}:{int(self.start)}"

    def period_spend(self) -> PeriodSpend:
        return PeriodSpend(self.key, self.spent, self.resets_at + KEEP_PAST_PERIOD_S)

    @property
    def state(self) -> State:
        if self.spent >= self.rule.usd:
            return "over"
        return "warn" if self.spent >= self.rule.usd * self.rule.warn_at else "ok"


class BudgetBook:
    """The budgets of one config, or of one of its `Users` (`user`: its budgets count that user's rows only, and
    `charge` must be given only those). `store` gives the spend so far this period (None: start from 0); `report`
    (level, message) hears when it could not be read; `clock` is Unix time (tests move it)."""

    def __init__(
        self,
        rules: Sequence[BudgetRule],
        store: LedgerStore | None,
        *,
        clock: Callable[[], float] = time.time,
        report: Callable[[str, str], None] | None = None,
        user: str | None = None,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._budgets = [_Budget(rule, now, user) for rule in rules]
        if store is not None and self._budgets:
            self._load(store, report)

    def _load(self, store: LedgerStore, report: Callable[[str, str], None] | None) -> None:
        try:
            for budget in self._budgets:
                budget.spent = store.spend(budget.scope, budget.start)
        except LedgerError as exc:
            for budget in self._budgets:
                budget.spent = 0.0
            if report is not None:
                report("error", f"Budgets start from $0 this time: their spend could not be read: {exc}")

    def check(self, provider: str, model: str, route: str | None) -> BudgetDecision:
        """What a request routed to (provider, model) on `route` may do now."""
        with self._lock:
            self._roll()
            warnings: list[str] = []
            target, changed_by, tried = (provider, model), None, {(provider.casefold(), model.casefold())}
            while True:
                over = self._over_budget(target, route, warnings)
                if over is None:
                    return BudgetDecision(target if changed_by else None, changed_by, None, tuple(warnings))
                then = over.rule.then
                if then is None or (then[0].casefold(), then[1].casefold()) in tried:
                    return BudgetDecision(None, over.rule.name, _refusal(over), tuple(warnings))
                target, changed_by = then, over.rule.name
                tried.add((then[0].casefold(), then[1].casefold()))

    def charge(self, row: LedgerRow) -> tuple[Charge, ...]:
        """Add a finished request's cost to the budgets whose scope and current period hold it; what was added,
        budget by budget (for the routers' shared totals)."""
        if not row.cost_usd:
            return ()
        charges: list[Charge] = []
        with self._lock:
            self._roll()
            for budget in self._budgets:
                if row.time >= budget.start and budget.rule.covers(row.provider, row.model, row.scenario):
                    before = budget.spent
                    budget.spent += row.cost_usd
                    charges.append(Charge(budget.key, row.cost_usd, before, budget.resets_at + KEEP_PAST_PERIOD_S))
        return tuple(charges)

    def periods(self) -> tuple[PeriodSpend, ...]:
        """Every budget's current period and this process's spend in it."""
        with self._lock:
            self._roll()
            return tuple(budget.period_spend() for budget in self._budgets)

    def adopt(self, shared: Mapping[str, float]) -> None:
        """Take in the routers' shared totals, by period key (a key of a period that has ended is ignored). A total
        below this process's figure (a charge of ours not added there yet) changes nothing."""
        with self._lock:
            self._roll()
            for budget in self._budgets:
                total = shared.get(budget.key)
                if total is not None and total > budget.spent:
                    budget.spent = total

    def status(self) -> tuple[BudgetStatus, ...]:
        with self._lock:
            self._roll()
            return tuple(
                BudgetStatus(
                    b.rule.name,
                    b.rule.scope.text,
                    b.rule.period,
                    b.rule.usd,
                    b.spent,
                    b.rule.warn_at,
                    b.state,
                    b.resets_at,
                )
                for b in self._budgets
            )

    def _roll(self) -> None:
        now = self._clock()
        for budget in self._budgets:
            budget.roll(now)

    def _over_budget(self, target: tuple[str, str], route: str | None, warnings: list[str]) -> _Budget | None:
        """The first budget covering `target` that is spent; notes the warnings due on the way."""
        for budget in self._budgets:
            if not budget.rule.covers(target[0], target[1], route):
                continue
            state = budget.state
            if state == "over":
                return budget
            if state == "warn" and not budget.warned:
                budget.warned = True
                warnings.append(_warning(budget))
        return None


def _warning(budget: _Budget) -> str:
    rule = budget.rule
    then = f"go to {rule.then[0]},{rule.then[1]}" if rule.then else "are refused"
    return (
        f'Budget "{rule.name}" has used {_usd(budget.spent)} of {_usd(rule.usd)} this {rule.period} '
        f"({budget.spent / rule.usd:.0%}, scope {rule.scope.text}); at the cap its requests {then} until "
        f"{local_time_text(budget.resets_at)}."
    )


def _refusal(budget: _Budget) -> str:
    rule = budget.rule
    return (
        f'Budget "{rule.name}" is spent: {_usd(budget.spent)} of {_usd(rule.usd)} this {rule.period} '
        f"(scope {rule.scope.text}). Its requests are refused until it resets at {local_time_text(budget.resets_at)} "
        'local time. To go on now, raise its "usd", or give it "then": "provider,model" to switch models instead.'
    )


def _usd(amount: float) -> str:
    return f"${amount:.2f}" if amount >= 1 or amount == 0 else f"${amount:.4f}"
