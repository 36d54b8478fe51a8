"""Level 5, ratings (好差评) and the rectification of bad reviews.
"""
