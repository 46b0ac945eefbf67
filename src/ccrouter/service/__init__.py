"""The background service as `ccr` sees it from outside: the pid file (`pidfile`), processes by pid (`processes`),
starting, stopping and checking it (`control`), the `ccr code` sessions that keep it running (`code_sessions`),
who holds a port (`ports`), running Claude Code through it (`claude_code`) and the one small HTTP client that asks
it things (`client`).

Standard library only, and of ccrouter only the stdlib-only leaves `paths`, `files`, `errors` and `config.light`:
the `ccr` commands that use it must start fast.
"""
