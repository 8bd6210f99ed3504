"""Data tools behind CLI commands: the demo seed, order import, copying a database."""
