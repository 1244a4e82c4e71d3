"""The runtime: provider resolution, the agent loop, and the run manager that owns runs."""
