"""Level 4, applications (办件): the record and its status table, intake (drafts, uploads,
submission), pre-review, acceptance and parallel review tasks, and the lists.
"""
