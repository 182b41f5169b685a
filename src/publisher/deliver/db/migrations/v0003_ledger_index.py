"""The ledger without the index on (issue, owner): PostgreSQL's planner took it for the
moves of one sender's rows (``... AND owner = ?``) and read every row of that sender at
each move, where the primary key finds the one row.  ``--status`` groups by owner
without it."""

SQL = """
DROP INDEX IF EXISTS deliveries_owner
"""
