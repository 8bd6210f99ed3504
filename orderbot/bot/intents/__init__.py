"""Chat side: intents, handlers and charts (filled by the understanding and channels issues)."""
