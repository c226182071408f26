"""The baseline: a bare one-file FastAPI app, served with the same uvicorn flags as the render."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"ping": "pong"}
