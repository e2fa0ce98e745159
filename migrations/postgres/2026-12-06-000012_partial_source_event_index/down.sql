-- Nothing to do: this index has been partial on PostgreSQL since it was made (see the SQLite side).
SELECT 1;
