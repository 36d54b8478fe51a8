"""Local simulators of the external providers (payment, courier): they send the same signed
callbacks the real ones do, using the platform's own signing function (`yiwang.signatures`)."""
