"""Classify an archive on a Dask distributed cluster (the optional ``cluster`` extra).

Files, and frame ranges of long videos, become tasks (``tasks``); each worker loads the model
once and runs its tasks through the same pipeline as a local run (``worker``); the client
submits them, reruns nothing by hand (Dask reschedules the tasks of a worker that dies) and
writes results, annotated pictures included, in input order (``client``).
"""
