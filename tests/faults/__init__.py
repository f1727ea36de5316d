"""Fault injection owned by the tests: nothing here ships, nothing in shipped code knows it."""
