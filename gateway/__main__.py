"""``python -m gateway``: serve the app's functions on $PORT (8080), or only
``$EVENTFN_FUNCTION`` at every path (single-function mode, see single.py)."""

from __future__ import annotations

import logging
import sys

import uvicorn

from eventio.settings import SettingsError
from gateway import server
from gateway.app import create_app
from gateway.errors import GatewayError
from gateway.settings import GatewaySettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = GatewaySettings.from_env()
        app = create_app(settings)
    except SettingsError as error:
        # A configuration it cannot run with: one line saying why, no traceback.
        sys.exit(f"eventfn gateway: {error}")
    except GatewayError as error:
        sys.exit(f"eventfn gateway: {error.message}")
    uvicorn.Server(server.config(app, settings)).run()


if __name__ == "__main__":
    main()
