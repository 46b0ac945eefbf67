"""ccrouter: a local model router for Claude Code."""

__version__ = "0.1.0"
