"""Level 2, the catalogue: service items (政务服务事项) with their versions, and the departments
that handle them.
"""
