"""Document processing reference app: invoices through a resumable pipeline into PostgreSQL."""
