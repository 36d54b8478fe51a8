"""Level 3, deadlines: every running period is a clock; yellow and red cards; the due-clock sweep.
"""
