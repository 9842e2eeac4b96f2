"""Customer support router reference app: classify, hand off with acknowledgement, fall back to general."""
