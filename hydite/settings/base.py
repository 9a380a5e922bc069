"""What every part of the settings needs: where the checkout is, DEBUG, and typed readers of the environment."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    return int(raw) if raw.strip() else default


# Other defaults follow it (secure cookies, HTTPS-only upstreams and webhooks, …).
DEBUG = env_bool("DEBUG", False)

# Local state of a developer checkout (embedded services, generated demo secrets).
HYDITE_STATE_DIR = Path(os.environ.get("HYDITE_STATE_DIR", "") or BASE_DIR / ".hydite")
