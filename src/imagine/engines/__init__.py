"""Engines turn (image, instruction) into an edited image."""
