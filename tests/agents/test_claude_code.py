"""Claude Code (`@anthropic-ai/claude-code`, pinned in tests/agents/package.json) run non-interactively
against the live gateway with a virtual key: it speaks only Anthropic's Messages API."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from apps.providers.models import ProviderType
from tests.gateway.router.routing_world import Upstream, routed_channel, settle, unique
from tests.world import ledger_rows_of_deployment

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CLAUDE = Path(__file__).resolve().parent / "node_modules" / ".bin" / "claude"  # see tests/agents/package.json
# Only a missing Node.js (an optional system tool) skips: with npm here, `make test` installed the agent,
# and a failed install must fail the test, not hide it.
needs_node = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="Node.js and npm (optional system tools) are missing, so `make test` could not install tests/agents",
)


def _claude(base_url: str, key: str, model: str, home: Path, prompt: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    return subprocess.run(  # noqa: S603
        [str(CLAUDE), "-p", prompt],
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@needs_node
@pytest.mark.parametrize("provider", [ProviderType.OPENAI_COMPATIBLE, ProviderType.ANTHROPIC])
def test_claude_code_finishes_with_the_mocks_answer_and_the_ledger_has_its_requests(
    committed, live_server_url, mock_root, tmp_path, provider
):
    model = "claude-sonnet-hydite"
    upstream = Upstream(unique("cc"), provider=provider, model="mock-claude")
    routed = committed(routed_channel, mock_root, {model: [upstream]}, {})
    settle()
    done = _claude(live_server_url, routed.key, model, tmp_path, "Say hi")
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    # the mock echoes the start of the last user turn, which Claude Code opens with its environment reminder
    assert "Mock reply to:" in done.stdout and "tool_use_error" not in done.stdout
    rows = ledger_rows_of_deployment(committed, routed.deployments[upstream.target])
    assert rows and all(row.status_code == 200 and row.model_alias == model for row in rows)
    assert sum(row.completion_tokens for row in rows) > 0 and all(row.prompt_tokens > 0 for row in rows)
