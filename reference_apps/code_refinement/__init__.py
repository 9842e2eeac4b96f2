"""Code refinement reference app: a generator/critic loop whose critic runs the unit tests."""
