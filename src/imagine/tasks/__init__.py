"""Tasks: /imagine, /fetch, /fetch-many and the request pipeline."""
