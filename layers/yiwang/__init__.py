"""Yiwang domain package (一网通办): records, rules, calendar, identity, signatures."""
