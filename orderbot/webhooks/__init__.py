"""HTTP edges: verify, parse, dedupe, hand over. No business rules live here."""
