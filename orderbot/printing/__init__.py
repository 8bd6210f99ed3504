"""Printing: QR package labels as PNG or PDF."""
