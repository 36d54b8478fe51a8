"""Level 2, people: who calls (roles and tokens) and what they are told (notices).
"""
