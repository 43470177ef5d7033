"""OpenAI-compatible Images API (`POST /v1/images/edits`, `GET /v1/models`) beside the
native contract, on the same accounts, credits, engines and storage."""
