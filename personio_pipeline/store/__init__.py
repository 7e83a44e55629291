"""Teammeter's database as the sync sees it: schema, migrations, diff and apply, review export."""
