"""Sampling approximations for models too large for the exact engine (not built yet)."""
