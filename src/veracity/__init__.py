"""Veracity."""
