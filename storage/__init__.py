"""Storage: SQLModel tables, engine and transactions, the repository and report queries."""
