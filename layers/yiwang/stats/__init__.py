"""Level 6, statistics (统计): aggregates kept from the table's stream.
"""
