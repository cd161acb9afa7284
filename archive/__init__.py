"""The Foundation archive. Keep this file empty of imports: archive.verify runs without Django."""
