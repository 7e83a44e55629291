"""The raw layer: every employee of a company as Apideck served it (`apideck/employees`)."""
