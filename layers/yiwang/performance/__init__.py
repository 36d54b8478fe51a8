"""Level 3, performance (效能): the monthly ledger of what counts against a department's score.
"""
