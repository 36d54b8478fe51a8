"""The deployable template and the local cloud that runs it."""
