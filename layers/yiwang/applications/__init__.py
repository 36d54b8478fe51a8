"""Level 4, applications (办件): the record and its status table, drafts, uploads, the
lifecycle (submission, every status move), pre-review, acceptance and parallel review tasks,
the promise (承诺时限) and 容缺 commitments, and the lists.
"""
