"""The Teammeter layer (`teammeter/*` assets): the one-transaction write and the verification report."""
