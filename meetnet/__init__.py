"""The composition root: the `meetnet` command and the all-in-one demo."""
