"""`ccr ui`: the dashboard the service serves at `/ui`, and its API under `/api/ui/`."""
