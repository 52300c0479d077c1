from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway import create_app
from gateway.config import Settings
from tests.conftest import CLIENTS
from tests.support import serve_in_thread, token


@pytest.fixture
def gateway_url(settings: Settings) -> Iterator[str]:
    """The gateway app served over real HTTP in this process."""
    with serve_in_thread(create_app(settings)) as url:
        yield url


@pytest.fixture
def org_token(gateway_url: str) -> str:
    cid = "salesforce-org"
    return token(gateway_url, cid, CLIENTS[cid][0])


@pytest.fixture
def admin_token(gateway_url: str) -> str:
    cid = "admin-console"
    return token(gateway_url, cid, CLIENTS[cid][0])
