"""The store's migrations, one module per step: ``vNNNN_name.py`` (see
:mod:`publisher.deliver.db.migrate`).  A new table or column is a new module with the
next free number; a step already released is never edited."""
