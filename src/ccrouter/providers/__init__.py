"""Provider adapters: pure translation between Anthropic Messages and each provider's wire format."""
