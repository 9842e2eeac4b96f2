"""Review analytics reference app: sentiment of 1,200 reviews by map-reduce, batched and cached."""
