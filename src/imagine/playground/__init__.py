"""The browser playground: one static page (HTML, JS, CSS) that drives the public API."""
