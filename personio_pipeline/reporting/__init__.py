"""What people read about a company: the review export (`review`: table, JSON, CSV for the data
team) and the verification report (`verification/`: one HTML page for the customer's admin)."""
