"""HTTP helpers of the API: problem answers and the health probe."""
