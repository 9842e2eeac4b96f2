"""Research assistant reference app: one question, five sources in parallel, merged findings with provenance."""
