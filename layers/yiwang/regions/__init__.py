"""Level 2, the region tree (行政区划): province → city → county → township → village, the
levels' names being the tree's own data. Departments, service centres, staff and cases are
placed in it; a supervisor's view is their region and everything below it.
"""
