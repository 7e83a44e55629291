"""Teammeter's database as the sync sees it: schema and migrations, engine and transactions, the
pure diff and its one-transaction apply (`sync`), the safeguard, ownership of fields, hand edits,
records held back, change-log retention."""
