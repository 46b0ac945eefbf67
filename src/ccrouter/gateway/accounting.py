"""What requests cost, against the budgets, into the ledger: the gateway's side of the `ledger` wing.

`Ledger` is the process's ledger and its writer thread (one per service, opened at start, closed at shutdown; none
with `"LEDGER": false`): the file `ledger.db` beside the config, or with `LEDGER_URL` the team's PostgreSQL
database, which is tried once at start (in a thread: the start never waits on it) so that a wrong URL or a server
that is down is in the log before the first request. `Accounts` is one config's prices and budgets, built with its
`Runtime` (in the reload thread: warming the prices and reading the spend so far take a while). Per request,
`check` runs before dispatch (a budget may send the request elsewhere, or refuse it), and `settle` after it: the
record gets its cost and baseline cost, the budgets are charged, and the record is queued for the ledger (the
writer's thread makes its row) — a request never waits on the disk. With STATE_URL the gateway shares the budgets'
spend with the other routers (`redis_budgets.py`): `books_for` names the budgets a request's check reads, and
`settle` returns what it charged.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from ccrouter.config.ledger_section import LedgerSettings
from ccrouter.config.model import Config
from ccrouter.gateway.in_flight import CLOSE_S
from ccrouter.gateway.logs import Logger
from ccrouter.gateway.records import RequestRecord
from ccrouter.ledger.budgets import BudgetBook, BudgetDecision, BudgetStatus, Charge
from ccrouter.ledger.faults import LedgerError
from ccrouter.ledger.prices import PriceBook
from ccrouter.ledger.rows import RowSource, Tokens
from ccrouter.ledger.store import LedgerStore, SqliteLedger
from ccrouter.ledger.writer import LedgerWriter
from ccrouter.paths import LEDGER_FILE
from ccrouter.recent import Recent

if TYPE_CHECKING:
    from ccrouter.gateway.request import MessagesRequest

FLUSH_BEFORE_RELOAD_S = 2.0  # a new config's budgets start from the spend on disk: the rows in memory first
MAX_SESSION_PROJECTS = 4_096  # sessions whose working directory is remembered


class Ledger:
    """The ledger of this service and the thread that writes it; `store` None when it is off or unusable."""

    def __init__(self, config: Config, log: Logger) -> None:
        self.log = log
        self.store: LedgerStore | None = None
        self.writer: LedgerWriter | None = None
        self._where: dict[str, str] = {}  # the store, as log lines name it
        settings = config.ledger or LedgerSettings()
        if not settings.enabled:
            return
        where = {"database": "LEDGER_URL"} if settings.url else {"file": str(config.home / LEDGER_FILE)}
        self._where = where
        try:
            self.store = open_store(settings, config)
        except LedgerError as exc:  # the router serves on; usage and budgets across restarts are what is lost
            log.error("ledger not opened; requests are served but not recorded", **where, error=str(exc))
            return
        self.writer = LedgerWriter(self.store, report=self.report)
        if settings.url:
            check = threading.Thread(target=self._try_database, args=(self.store,), name="ccr-ledger-check")
            check.daemon = True
            check.start()

    def _try_database(self, store: LedgerStore) -> None:
        """Connect once (creating or upgrading the tables; the query reads nothing): a database that cannot be used
        is reported now, with what to do, rather than at the first request. The writer retries on its own."""
        try:
            store.totals(time.time())
        except LedgerError as exc:
            self.log.error(
                "usage ledger database not usable at start; requests are served, their rows wait in memory and are "
                "written once it works",
                database="LEDGER_URL",
                error=str(exc),
            )

    def report(self, level: str, message: str) -> None:
        """The writer's and the price book's one-line reports, into the service log."""
        {"error": self.log.error, "warn": self.log.warn}.get(level, self.log.info)(message)

    def put(self, source: RowSource) -> None:
        if self.writer is not None:
            self.writer.put(source)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush(FLUSH_BEFORE_RELOAD_S)

    def close(self, timeout: float = CLOSE_S) -> None:
        """Write the rows still in memory, waiting at most `timeout` seconds, then close the store. Rows the store
        did not take by then (a database that stopped answering) are counted in one log line, and the store is left
        to the process's exit: its connection is still in the writer thread's hands."""
        if self.writer is not None:
            unwritten = self.writer.close(timeout)
            if unwritten:
                self.log.error(
                    f"The usage ledger did not take the last rows within {timeout:g} s of the stop: {unwritten:,} "
                    "rows were not written and are lost. Check that the database answers (or the disk, for the "
                    "file) before the next start.",
                    rows=unwritten,
                    **self._where,
                )
                return
        if self.store is not None:
            self.store.close()


def open_store(settings: LedgerSettings, config: Config) -> LedgerStore:
    """The store `settings` name: PostgreSQL with `LEDGER_URL` (nothing connects yet), else the file beside the
    config. Raises LedgerError."""
    if settings.url:
        from ccrouter.ledger.postgres_store import PostgresLedger  # psycopg: only for a team's ledger

        return PostgresLedger(settings.url)
    return SqliteLedger(config.home / LEDGER_FILE)


class Accounts:
    """One config's prices and budgets. Built off the event loop: pricing is warmed and the budgets read their
    spend so far from the ledger."""

    def __init__(self, config: Config, ledger: Ledger | None) -> None:
        settings = config.ledger or LedgerSettings()
        self.ledger = ledger
        report = ledger.report if ledger is not None else None
        self.prices = PriceBook(settings.prices, config.providers.values(), baseline=settings.baseline, report=report)
        self.prices.warm()
        if ledger is not None:
            ledger.flush()
        store = ledger.store if ledger is not None else None
        self.budgets = BudgetBook(settings.budgets, store, report=report)
        self.has_budgets = bool(settings.budgets)
        users = config.users.entries if config.users else ()
        self.user_budgets = {
            user.name: BudgetBook(user.budgets, store, report=report, user=user.name) for user in users if user.budgets
        }
        self.keeps_rows = ledger is not None and ledger.store is not None
        # session id -> the working directory its requests named (the least recently named go first)
        self._projects: Recent[str] = Recent(MAX_SESSION_PROJECTS)

    def check(self, provider: str, model: str, route: str | None, user: str | None = None) -> BudgetDecision | None:
        """Whether a budget changes where this request goes (or refuses it); None when no budget is set. The
        config's budgets are asked first; then, unless they refused it, the user's own for the target they chose."""
        decision = self.budgets.check(provider, model, route) if self.has_budgets else None
        book = self.user_budgets.get(user) if user is not None else None
        if book is None or (decision is not None and decision.refused):
            return decision
        target = decision.target if decision is not None and decision.target else (provider, model)
        return _merged(decision, book.check(target[0], target[1], route))

    def books_for(self, user: str | None) -> tuple[BudgetBook, ...]:
        """The budget books `check` reads for a request of `user`: none when no budget applies to it."""
        book = self.user_budgets.get(user) if user is not None else None
        books = (self.budgets,) if self.has_budgets else ()
        return books if book is None else (*books, book)

    def all_books(self) -> tuple[BudgetBook, ...]:
        """Every book with budgets: the config's, then each user's."""
        return ((self.budgets,) if self.has_budgets else ()) + tuple(self.user_budgets.values())

    def note_project(self, record: RequestRecord, request: MessagesRequest) -> None:
        """Claude Code's working directory, for the ledger's `project` (looked up only when rows are kept): read
        from the request's text once per session (a session's directory does not change), and from every request
        of a session that has not named one yet."""
        if not self.keeps_rows:
            return
        session = request.session_id
        project = self._projects.get(session) if session is not None else None
        if project is None:
            project = request.project
            if project is not None and session is not None:
                self._projects.put(session, project)
        record.project = project

    def settle(self, record: RequestRecord) -> tuple[Charge, ...]:
        """Price `record`, charge the budgets and queue its ledger row; what each budget was charged."""
        tokens = Tokens(
            record.input_tokens,
            record.output_tokens,
            record.cache_read_input_tokens,
            record.cache_creation_input_tokens,
        )
        costs = self.prices.costs(record.provider, record.model, record.requested_model, tokens, record.started_at)
        record.cost_usd, record.baseline_cost_usd, record.prices = costs.cost_usd, costs.baseline_cost_usd, costs.prices
        books = self.books_for(record.user)
        row = record.ledger_row() if books else None  # the budgets read it now; else the writer's thread makes it
        charges = tuple(charge for book in books for charge in book.charge(row)) if row is not None else ()
        if self.ledger is not None:
            self.ledger.put(record if row is None else row)
        return charges

    def budget_status(self) -> tuple[BudgetStatus, ...]:
        """The config's budgets, then every user's."""
        return sum((book.status() for book in self.user_budgets.values()), self.budgets.status())


def _merged(config_decision: BudgetDecision | None, user_decision: BudgetDecision) -> BudgetDecision:
    """The config's budgets' decision, then the user's for the target it left: the user's refusal or switch wins,
    and the warnings of both are given."""
    if config_decision is None:
        return user_decision
    warnings = config_decision.warnings + user_decision.warnings
    if user_decision.refused or user_decision.target is not None:
        return replace(user_decision, warnings=warnings)
    return replace(config_decision, warnings=warnings)
