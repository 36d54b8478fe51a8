"""Level 6, cases: everything recorded under one application, as a caller may see it.
"""
