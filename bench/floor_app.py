"""The floor: a bare FastAPI JSON endpoint, served like imagine (uvicorn, same defaults).

Run: python -m uvicorn floor_app:app --app-dir bench --port PORT
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, object]:
    """A tiny JSON answer (comparable in size to /api/v1/account)."""
    return {"email": "bench@example.com", "credits": 992, "total_images": 1, "plan": "basic"}
