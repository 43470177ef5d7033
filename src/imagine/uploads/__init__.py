"""Uploaded input images: POST/GET /api/v1/uploads, reading them as image_url, expiry."""
