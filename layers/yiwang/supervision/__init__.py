"""Level 6, supervision (电子监察): the timeout check's rules and the supervisors' cards.
"""
