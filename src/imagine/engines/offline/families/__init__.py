"""Edit families of the offline engine; each module exposes one `apply(rgb, edit, ctx)`."""
