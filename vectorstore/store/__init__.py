"""The SQLite store: documents and chunks, the write path, reads, schema, locking."""
