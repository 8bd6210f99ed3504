"""Outbound channels: render a `Reply` within each platform's limits and send it from the outbox."""
