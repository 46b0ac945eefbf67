"""`ccr statusline`: the line under Claude Code's prompt (`line`) and how it is drawn (`style`).

Standard library only, and of ccrouter only `paths`, `config.light` and `service.client`: it runs several times
a second within a 100 ms budget.
"""
