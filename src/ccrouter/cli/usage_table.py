"""`ccr usage`'s table: one row per group, a totals row, and footnotes for what the ledger could not price.

Amounts the ledger does not know (a model without a price, a request whose baseline has none) are shown as "?",
never as $0, and a footnote names the config key that fixes them (`Prices`, `Baseline`). Group names come from
outside (a session id, Claude Code's working directory): they are shown as plain text with control characters made
visible, never read as rich markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from ccrouter.ledger.aggregate import GROUPINGS, UsageReport, UsageTotals
from ccrouter.statusline.style import format_cost
from ccrouter.untrusted import printable

UNKNOWN = "?"
_NO_KEY = {"project": "(unknown)"}  # a group key that is null: what it means, per --by key
# tokens: in (not from the cache), out, read from and written to the prompt cache
_NUMBER_COLUMNS = ("requests", "errors", "in", "out", "cache rd", "cache wr", "cost", "baseline", "savings")
_PRICES_EXAMPLE = '{"input": 0.27, "output": 1.10}'
_NAMED_MODELS = 5
_NAME_MIN_WIDTH = 20  # at most this many unpriced models named in the footnote


def usd(amount: float | None) -> str:
    """A dollar amount as the table (and the statusline) shows it: four decimals below 10 cents (a request costs
    fractions of a cent: "$0.0123"), cents from there ("$0.41"), "?" when unknown."""
    return UNKNOWN if amount is None else format_cost(amount, grouped=True)


def tokens(count: int) -> str:
    """A token count in at most six characters (the table must fit a terminal; `--json` has the exact counts)."""
    for limit, unit in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if count >= limit * 0.99995 and (unit != "k" or count >= 10_000):
            return f"{count / limit:.1f}{unit}"
    return f"{count:,}"


def usage_table(report: UsageReport) -> Table:
    """The groups of `report` and its totals, in `rich` form. Numbers never shrink (their columns' minimum width
    is their widest cell); names fold down to `_NAME_MIN_WIDTH` characters to fit a narrow terminal."""
    key_names = [name for name, _ in GROUPINGS[report.by]]
    rows = [
        [_key_text(name, group.keys.get(name)) for name in key_names] + _numbers(group.totals) for group in report.rows
    ]
    total = [Text("total", style="bold")] + [Text("")] * (len(key_names) - 1) + _numbers(report.total)
    headers = [*key_names, *_NUMBER_COLUMNS]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for index, header in enumerate(headers):
        widest = max(len(header), *(row[index].cell_len for row in [*rows, total]))
        if index < len(key_names):
            table.add_column(header, overflow="fold", min_width=min(widest, _NAME_MIN_WIDTH))
        else:
            table.add_column(header, justify="right", no_wrap=True, min_width=widest)
    for row in rows:
        table.add_row(*row)
    table.add_section()
    table.add_row(*total, style="bold")
    return table


def narrowest(table: Table) -> int:
    """The fewest terminal columns `table` needs with every column at its minimum width and the gaps between them."""
    gap = 2  # padding (0, 1) on each side, none at the edges
    return sum(column.min_width or 1 for column in table.columns) + gap * (len(table.columns) - 1)


def footnotes(total: UsageTotals, unpriced_models: Sequence[str]) -> list[str]:
    """What each "?" in the table means and the config key that fixes it; empty when every amount is known."""
    notes: list[str] = []
    if total.unpriced_requests:
        named = ", ".join(unpriced_models[:_NAMED_MODELS]) + (", ..." if len(unpriced_models) > _NAMED_MODELS else "")
        example = unpriced_models[0] if unpriced_models else "provider,model"
        notes.append(
            f"? cost: {_requests(total.unpriced_requests)} of a model without a known price"
            + (f" ({named})" if named else "")
            + f'. Price it in the config: "Prices": {{"{example}": {_PRICES_EXAMPLE}}} (USD per million tokens); '
            "requests from then on are costed, the ones already recorded keep their null cost."
        )
    if total.unbaselined_requests:
        notes.append(
            f"? baseline: {_requests(total.unbaselined_requests)} asked for a model without a known Claude price "
            '(savings unknown). Set "Baseline": "provider,model" in the config to measure savings against one model.'
        )
    return notes


def _numbers(totals: UsageTotals) -> list[Text]:
    savings = totals.savings_usd
    return [
        Text(f"{totals.requests:,}"),
        Text(f"{totals.errors:,}", style="red" if totals.errors else ""),
        Text(tokens(totals.input_tokens)),
        Text(tokens(totals.output_tokens)),
        Text(tokens(totals.cache_read_tokens)),
        Text(tokens(totals.cache_write_tokens)),
        Text(usd(totals.cost_usd), style="yellow" if totals.cost_usd is None else ""),
        Text(usd(totals.baseline_cost_usd), style="yellow" if totals.baseline_cost_usd is None else ""),
        Text(usd(savings), style=_savings_style(savings)),
    ]


def _savings_style(savings: float | None) -> str:
    if savings is None:
        return "yellow"
    return "green" if savings > 0 else "red" if savings < 0 else ""


def _key_text(name: str, value: str | None) -> Text:
    if value is None:
        return Text(_NO_KEY.get(name, "(none)"), style="dim")
    return Text(printable(value))


def _requests(count: int) -> str:
    return f"{count:,} request" + ("" if count == 1 else "s")
