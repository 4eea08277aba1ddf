"""Faults from the environment: signals, full disks, read-only folders, closed streams."""
