"""Level 7, 一件事一次办 (themes): a theme bundles several published items behind one merged
form and one de-duplicated material list (`definitions`); one submission makes a theme case
of linked applications, each on its own lifecycle (`cases`), whose fees are paid as one order
(`payments`), whose certificates are handed over together, and whose steps are told to the
applicant once per theme step (`progress`).
"""
