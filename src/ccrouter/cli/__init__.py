"""The `ccr` command: `main` (the click group and its error reporting), one module per group of commands, and the
views they print (`status_view`, `log_files`, `log_table`, `config_report`).

Parsing and printing only. The server stack and the config loader are imported inside the commands that need
them, never when `ccr` starts.
"""
