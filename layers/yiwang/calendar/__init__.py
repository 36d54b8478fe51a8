"""Level 2, the working-day calendar (工作日): official holidays, adjusted working days and the
operators' overrides.
"""
