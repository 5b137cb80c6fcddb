"""Fonts embedded in the PDFs the server makes (see README.md here)."""
