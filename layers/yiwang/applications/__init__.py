"""Level 4, applications (办件): the record and its status table, drafts, uploads, the
lifecycle (submission, every status move), pre-review, acceptance and parallel review tasks,
and the lists.
"""
