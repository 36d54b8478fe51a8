"""Level 1, the single table: the table binding, the audit record (全程留痕), the one
conditional-write policy and idempotency receipts.
"""
