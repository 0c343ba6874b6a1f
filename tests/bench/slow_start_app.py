"""A tiny ASGI application for tests/bench/test_web_server.py, served by uvicorn workers. The
first worker to import it starts at once; every other one takes SLOW_START_SECONDS longer.
Each notes its start in SLOW_START_DIR once imported."""

import os
import time
from pathlib import Path
from typing import Any

_folder = Path(os.environ["SLOW_START_DIR"])
try:
    (_folder / "first").touch(exist_ok=False)
except FileExistsError:
    time.sleep(float(os.environ["SLOW_START_SECONDS"]))
(_folder / f"started-{os.getpid()}").touch()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise RuntimeError("only HTTP")  # uvicorn's lifespan "auto" then goes without
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
