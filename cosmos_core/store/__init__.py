"""The database: its tables and migrations, every query, the webhook's outbox, and the copy of a
whole history between databases."""
