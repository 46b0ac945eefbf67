"""Where the tests find the repository's files: everything they read lives inside the repository."""

from __future__ import annotations

from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent
FIXTURES_DIR = TESTS_DIR / "fixtures"
EXAMPLES_DIR = REPO_ROOT / "examples"
