"""Decision council reference app: a weighted-vote debate with judge or human arbitration."""
