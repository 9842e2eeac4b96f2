"""Order saga reference app: an order placed across PostgreSQL tables, undone by compensations."""
