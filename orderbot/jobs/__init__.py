"""Scheduled work: the scheduler with its database lease (`scheduler`) and the standard jobs (`standard`)."""
