"""Backups of the database and the document store, and restoring them: `manage.py backup` and `manage.py restore`
(`make backup`, `make restore`)."""
