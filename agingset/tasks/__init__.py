"""What a worker solves: one task per sample, with its cache token, its affinity and the result
it stands for when the worker produced nothing. The physics the tasks call is in :mod:`agingset.physics`."""
