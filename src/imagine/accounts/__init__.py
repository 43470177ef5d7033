"""Accounts, API keys, plans and the credit ledger."""
