"""`POST /api/ui/config/check` and `PUT /api/ui/config`: the page's changes, checked, shown as a diff, saved.

A change names a path in one of the editable sections and sets, appends or deletes one value there. The changes
are made as minimal JSON5 text edits (`config/json5_paths.py`), so the user's comments, key order and formatting
stay byte for byte, and the edited text must load with the real loader against the service's environment before
it can be saved: the errors are the loader's own messages, as `ccr config check` prints them. A save names the
version (sha256) of the file the page was showing; a file changed on disk since then (by an editor, `ccr model`,
another tab) is never overwritten, up to the moment of writing. The old file is backed up as `ccr model` backs it
up, the new one written atomically with the old one's mode, read back and loaded, and put back if that fails.
No secret reaches the diff or the errors (`config_view.Secrets`).
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, cast

from ccrouter.config.json5_edit import EditError, Member, Node, parse_spans
from ccrouter.config.json5_paths import (
    Edit,
    JsonPath,
    Operation,
    PathError,
    apply_edits,
    apply_to_data,
    loads,
    shown_path,
)
from ccrouter.config.loading import parse_config, read_config_text
from ccrouter.config.route_edit import backup_config, prune_backups
from ccrouter.dashboard.config_view import (
    EDITABLE,
    URL_CREDENTIALS,
    Document,
    Secrets,
    is_secret_key,
    key_kind,
    read_document,
    version_of,
)
from ccrouter.errors import CcrouterError, ConfigError, GatewayError, UserCodeError
from ccrouter.files import write_atomically
from ccrouter.untrusted import clip

MAX_CHANGES = 200
MAX_VALUE_BYTES = 256 * 1024  # one change's value, as JSON
MAX_PATH_STEPS = 32
MAX_KEY_CHARS = 1000
_OPS: dict[str, Operation] = {"value": "set", "append": "append", "delete": "delete"}
_VERSION = re.compile(r"[0-9a-f]{64}\Z")
_KEY_PATH = re.compile(r"""[A-Za-z_$][\w$-]*(?:\.[^\s.\[\]:,]+|\[(?:\d+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\])*""")
_EXAMPLE = '{"path": ["Router", "default"], "value": "provider,model"}'
_SAVING = threading.Lock()


@dataclass(frozen=True)
class Change:
    """One edit the page asks for: `set` `value` at `path` (missing objects created), `append` `value` to the list
    at `path`, or `delete` what is at `path`."""

    path: JsonPath
    op: Operation
    value: Any = None


@dataclass(frozen=True)
class Checked:
    ok: bool
    errors: list[dict[str, str]]  # [{"path": "Router.default", "message": the loader's message}]
    diff: str  # unified diff of the file, secrets masked
    text: str = field(repr=False)  # the edited file: it holds the secrets, so it is never sent

    def as_dict(self) -> dict[str, Any]:
        """The JSON of `POST /api/ui/config/check`."""
        return {"ok": self.ok, "errors": self.errors, "diff": self.diff}


@dataclass(frozen=True)
class Saved:
    version: str  # the new file's sha256
    backup_name: str | None  # the backup's file name; None when the changes left the file as it was (not written)


class InvalidChanges(GatewayError):
    """The changes would make a config that does not load; nothing was written. `errors` as `Checked.errors`."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        first = errors[0]["message"] if errors else "the changes cannot be made"
        super().__init__(422, f"The config was not changed: {first}", "invalid_request_error")
        self.errors = errors

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": self.errors}


# ---------------------------------------------------------------------------------------------------------------
# The request body


def parse_changes(payload: Any) -> tuple[str, list[Change]]:
    """The version and the changes of a check or save body `{"version": V, "changes": [...]}`, checked; a 400
    GatewayError saying what is wrong and what is expected otherwise."""
    if not isinstance(payload, dict):
        _refuse('The body must be a JSON object: {"version": "<from GET /api/ui/config>", "changes": [...]}.')
    unknown = sorted(set(payload) - {"version", "changes"})
    if unknown:
        _refuse(f"The body has the unknown key {clip(str(unknown[0]), 60)!r}; its keys are version and changes.")
    version = payload.get("version")
    if not isinstance(version, str) or not _VERSION.match(version):
        _refuse('version must be the "version" of GET /api/ui/config (64 hex digits); reload the page to get it.')
    changes = payload.get("changes")
    if not isinstance(changes, list):
        _refuse(f"changes must be a list of changes like {_EXAMPLE}.")
    if not changes:
        _refuse(f"changes is empty; send at least one change, like {_EXAMPLE}.")
    if len(changes) > MAX_CHANGES:
        _refuse(f"changes holds {len(changes)} changes; at most {MAX_CHANGES} fit in one request. Save in steps.")
    return version, [_change(item, f"changes[{i}]") for i, item in enumerate(changes)]


def _change(item: Any, where: str) -> Change:
    if not isinstance(item, dict):
        _refuse(f"{where} must be an object with a path and one of value, append or delete, like {_EXAMPLE}.")
    unknown = sorted(set(item) - {"path", *_OPS})
    if unknown:
        _refuse(
            f"{where} has the unknown key {clip(str(unknown[0]), 60)!r}; a change has path and one of value, "
            "append or delete."
        )
    ops = [key for key in _OPS if key in item]
    if len(ops) != 1:
        _refuse(
            f"{where} has {' and '.join(ops) or 'none'} of value, append and delete; give exactly one: value "
            "(set), append (add to a list) or delete (true)."
        )
    op_key = ops[0]
    if op_key == "delete" and item["delete"] is not True:
        _refuse(f"{where}.delete must be true (leave it out to keep the value).")
    value = item.get(op_key) if op_key != "delete" else None
    _check_value(value, f"{where}.{op_key}")
    return Change(_path(item.get("path"), f"{where}.path"), _OPS[op_key], value)


def _path(path: Any, where: str) -> JsonPath:
    if not isinstance(path, list) or not path:
        _refuse(f'{where} must be a non-empty list of keys and list indexes, like ["Providers", 0, "models"].')
    if len(path) > MAX_PATH_STEPS:
        _refuse(f"{where} has {len(path)} steps; a config path has at most {MAX_PATH_STEPS}.")
    for j, step in enumerate(path):
        if isinstance(step, bool) or not isinstance(step, (str, int)) or (isinstance(step, int) and step < 0):
            _refuse(
                f"{where}[{j}] is {_kind(step)}; each step is a key (a string) or a list index (a whole number from 0)."
            )
        if isinstance(step, str) and len(step) > MAX_KEY_CHARS:
            _refuse(f"{where}[{j}] is a key of {len(step):,} characters; at most {MAX_KEY_CHARS:,}.")
    if path[0] not in EDITABLE:
        _refuse(
            f"{where}[0] is {clip(repr(path[0]), 60)}; a change's path starts with one of "
            f"{', '.join(EDITABLE)} (the sections the dashboard edits)."
        )
    return tuple(cast(list[str | int], path))


def _check_value(value: Any, where: str) -> None:
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError):
        _refuse(f"{where} must be JSON with finite numbers and valid Unicode text.")
    except RecursionError:
        _refuse(f"{where} nests objects or lists too deeply; a config value nests a few levels.")
    if size > MAX_VALUE_BYTES:
        _refuse(f"{where} is {size:,} bytes of JSON; at most {MAX_VALUE_BYTES:,} fit in one change.")


def _kind(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        return f"{value} (below 0)"
    return {dict: "an object", list: "a list", float: "a fraction"}.get(type(value), "not a key or an index")


def _refuse(message: str) -> NoReturn:
    raise GatewayError(400, message, "invalid_request_error")


# ---------------------------------------------------------------------------------------------------------------
# Checking and saving


def check_changes(path: Path, version: str, changes: list[Change], environ: Mapping[str, str]) -> Checked:
    """The changes made to the file at `path` (which must still be `version`, else a 409) and loaded against
    `environ`; nothing is written."""
    return _check(path, _current(path, version), changes, environ)


def save_changes(path: Path, version: str, changes: list[Change], environ: Mapping[str, str]) -> Saved:
    """Check the changes, then write them: InvalidChanges (422) when the result would not load, 409 when the file
    changed since `version` (checked again just before writing). The old file is backed up first. Saves from the
    dashboard run one at a time, so two pages saving at once cannot both pass the version check."""
    with _SAVING:
        return _save(path, version, changes, environ)


def _save(path: Path, version: str, changes: list[Change], environ: Mapping[str, str]) -> Saved:
    document = _current(path, version)
    checked = _check(path, document, changes, environ)
    if not checked.ok:
        raise InvalidChanges(checked.errors)
    if checked.text == document.text:
        return Saved(version, None)
    _current(path, version)  # an outside edit since the check must not be overwritten
    old, new = document.text.encode("utf-8"), checked.text.encode("utf-8")
    try:
        backup = backup_config(path, old)
    except CcrouterError as exc:
        raise GatewayError(500, str(exc), "api_error") from None
    try:
        write_atomically(path, new)  # keeps the file's mode
    except OSError as exc:
        raise GatewayError(
            500, f"Cannot write {path}: {exc.strerror or exc}; the file is unchanged.", "api_error"
        ) from None
    _verify(path, checked.text, old, backup, environ)
    prune_backups(path)
    return Saved(version_of(checked.text), backup.name)


def _current(path: Path, version: str) -> Document:
    document = read_document(path)
    if document.version != version:
        raise GatewayError(
            409,
            f"{path} changed on disk since this page loaded (an editor, `ccr model` or another page saved it), so "
            "nothing was changed. Reload the page and make the change again.",
            "conflict_error",
        )
    return document


def _check(path: Path, document: Document, changes: list[Change], environ: Mapping[str, str]) -> Checked:
    edits = [_edit(change, document.data) for change in changes]
    try:
        text = apply_edits(document.text, edits, document=document.data)
    except PathError as exc:
        where = f"changes[{exc.index}] ({shown_path(edits[exc.index].path)})" if exc.index is not None else "a change"
        raise GatewayError(
            400,
            f"{clip(where)} cannot be made: {clip(str(exc))}. Name a path the config holds (GET /api/ui/config).",
            "invalid_request_error",
        ) from None
    except EditError as exc:
        why = Secrets.of([document.data]).mask(clip(str(exc)))
        message = (
            f"The dashboard cannot make these changes as a small edit of {path} ({why}), and will not rewrite the "
            "whole file (its comments would be lost). Make them in the file by hand; `ccr config check` checks it."
        )
        return Checked(False, [{"path": "", "message": message}], "", document.text)
    new_data = copy.deepcopy(document.data)
    for edit in edits:
        apply_to_data(new_data, edit)  # what `text` parses to (apply_edits verified it), without a slow parse
    secrets = Secrets.of([document.data, new_data])
    in_messages = Secrets(secrets.values | _referenced_values(text, environ))
    errors = [
        {"path": in_messages.mask(error_path(message, new_data)), "message": in_messages.mask(message)}
        for message in _problems(text, path, environ)
    ]
    return Checked(not errors, errors, _diff(path, document.text, text, secrets), text)


def _edit(change: Change, data: Mapping[str, Any]) -> Edit:
    """The edit of a change; `Providers` is the file's `providers` when it spells it so (as the loader reads it)."""
    path = change.path
    if path[0] == "Providers" and "Providers" not in data and "providers" in data:
        path = ("providers", *path[1:])
    return Edit(change.op, path, change.value)


def _problems(text: str, path: Path, environ: Mapping[str, str]) -> list[str]:
    """What the loader says of the text (its first problem, as `ccr config check` prints it), running no user code."""
    try:
        parse_config(text, environ, path, run_user_code=False)
    except (ConfigError, UserCodeError) as exc:
        return [str(exc)]
    return []


def error_path(message: str, data: Mapping[str, Any]) -> str:
    """The key path a loader message starts with ("Router.default names provider ..." -> "Router.default"), or ""
    when it names none (a syntax error names the file)."""
    match = _KEY_PATH.match(message)
    if match is None or message[match.end() : match.end() + 1] not in ("", " ", ":"):
        return ""
    root = re.match(r"[A-Za-z_$][\w$-]*", match.group())
    return match.group() if root is not None and (root.group() in data or root.group() in EDITABLE) else ""


def _referenced_values(text: str, environ: Mapping[str, str]) -> set[str]:
    """The environment's values of the `$VARIABLES` the text names: a loader message about an interpolated value
    must not show a key that lives in the environment."""
    names = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text))
    return {environ[name] for name in names if environ.get(name)}


def _verify(path: Path, text: str, old: bytes, backup: Path, environ: Mapping[str, str]) -> None:
    """Read the written file back and load it; put the old bytes back if it does not load. A file that reads
    back as something else was written by someone else meanwhile: theirs is kept."""
    try:
        written = read_config_text(path)
    except ConfigError as exc:
        raise GatewayError(500, f"{exc} The backup of the previous file is {backup}.", "api_error") from None
    if written != text:
        raise GatewayError(
            409,
            f"{path} was changed by someone else right after this save; theirs is kept (yours is lost, the file "
            f"before it is {backup}). Reload the page.",
            "conflict_error",
        )
    problems = _problems(written, path, environ)
    if problems:
        try:
            write_atomically(path, old)
        except OSError as exc:
            raise GatewayError(
                500,
                f"{path} does not load after saving, and putting it back failed ({exc.strerror}); "
                f"copy the backup {backup} over it.",
                "api_error",
            ) from None
        raise GatewayError(500, f"{path} did not load after saving; the previous file was put back.", "api_error")


# ---------------------------------------------------------------------------------------------------------------
# The diff, secrets masked


def _diff(path: Path, old: str, new: str, secrets: Secrets) -> str:
    labels: dict[str, str] = {}
    before = _masked(old, secrets, labels).splitlines()
    after = _masked(new, secrets, labels).splitlines()
    name = path.name
    lines = difflib.unified_diff(before, after, f"{name} (on disk)", f"{name} (with the changes)", n=3, lineterm="")
    return "\n".join(lines) + "\n" if old != new else ""


def _masked(text: str, secrets: Secrets, labels: dict[str, str]) -> str:
    """`text` with every written key (where it stands, whatever its escapes, and wherever else it appears) and the
    credentials of every URL replaced by a label: one label per distinct secret, so a changed key shows as changed."""

    def label(secret: str) -> str:
        return labels.setdefault(secret, f"<hidden {len(labels) + 1}>")

    for start, end, secret in sorted(_secret_spans(text), reverse=True):
        quote = text[start] if text[start] in "'\"" else '"'
        text = f"{text[:start]}{quote}{label(secret)}{quote}{text[end:]}"
    for secret in secrets.ordered():
        text = text.replace(secret, label(secret))
    return URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{label(m.group(2))}@", text)


def _secret_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, value) of every written api_key/APIKEY value in the text, duplicates included."""
    pending: list[Node] = [parse_spans(text)]
    while pending:
        node = pending.pop()
        for item in node.items:
            if item.node is not None:
                pending.append(item.node)
            elif isinstance(item, Member) and is_secret_key(item.key):
                value = loads(text[item.value_start : item.value_end])
                if isinstance(value, str) and key_kind(value)["kind"] == "written":
                    yield item.value_start, item.value_end, value
