"""Level 6, views: what a caller may see of a case (everything recorded under one application,
read in one Query), of a list row, a complaint and a rating. Routes answer with these."""
