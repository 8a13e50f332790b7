"""A large, realistic, synthetic data set for performance work: `manage.py seed_scale`.

Rows are generated in Python (deterministic for a given --seed and run date) and loaded with PostgreSQL COPY,
ids taken from each table's own sequence. Nothing here runs in the portal itself.
"""
