"""Messaging: the inbox pipeline (events in, once), the outbox worker and the senders per platform (replies out)."""
