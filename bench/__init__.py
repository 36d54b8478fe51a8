"""`make bench`: the figures the issues ask for, measured, not asserted."""
