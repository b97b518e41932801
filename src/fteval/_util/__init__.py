"""Small helpers shared by every layer (paths, progress bars, validation messages)."""
