"""Level 5, complaints and suggestions (投诉建议).
"""
