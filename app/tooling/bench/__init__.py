"""`ragqa bench`: speed figures of ingest, re-ingest, search and start-up on this machine."""
