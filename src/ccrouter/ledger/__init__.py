"""The usage ledger: one row per request with its tokens, cost and baseline cost; prices; budgets.

`rows` (the row), `prices` + `genai_lookup` (what tokens cost), `store` + `migrations` + `aggregate` + `faults`
(the SQLite file behind the `LedgerStore` interface), `writer` (rows written off the request path), `budgets`
(spending caps), `periods` (local days and months, `--since`). The gateway feeds it through its record sink;
`ccr usage` reads the store directly.
"""
