"""The database: engine and units of work (`engine`), the SQLite drivers behind one switch, migrations."""
