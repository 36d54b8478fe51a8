"""Level 0, the platform: configuration, errors, AWS clients, observability, validation,
webhook signatures, identity-number rules, and the workflow engine's calls. Knows no record.
"""
