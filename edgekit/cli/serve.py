"""`edgekit serve`: the OpenAI-compatible server and web chat of a bundle."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from edgekit.cli.options import options_from
from edgekit.errors import EdgekitError
from edgekit.runtime.serve.settings import DEFAULT_HOST, DEFAULT_PORT, ServeSettings


@click.command(short_help="OpenAI-compatible server + web chat for a bundle.")
@click.argument("bundle", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Interface to bind. Loopback by default; 0.0.0.0 is an explicit choice.",
)
@click.option("--port", default=DEFAULT_PORT, show_default=True)
@options_from(ServeSettings)
def serve(bundle: Path, host: str, port: int, **values: Any) -> None:
    """Serve BUNDLE: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models,
    /metrics, /health, /ready and a web chat at /. The bundle is verified first."""
    import uvicorn

    from edgekit.runtime.serve.server import create_app

    if values["no_auth"]:
        click.secho(
            "WARNING: --no-auth: anyone who can reach this port can use the model",
            fg="yellow",
            err=True,
        )
    if values["engine"] is not None:
        from edgekit.runtime.engine.upstream import parse_urls

        try:
            parse_urls(values["engine"])
        except ValueError as exc:
            raise EdgekitError(str(exc)) from None
    engine_key = os.environ.get("EDGEKIT_ENGINE_KEY") or None
    settings = ServeSettings(bundle, **values, engine_key=engine_key)
    app = create_app(settings)
    srv = app.state.server
    click.echo(f"serving {srv.model_id} on http://{host}:{port}  ({_engine_line(srv)})", err=True)
    # the engine thread takes the GIL back after every llama_decode; the default 5 ms
    # switch interval would make it wait behind the HTTP thread for up to a token's time
    sys.setswitchinterval(float(os.environ.get("EDGEKIT_SWITCH_INTERVAL", "0.0005")))
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _engine_line(srv: Any) -> str:
    """What generates the answers, for the start line."""
    kb = f"kb {'on' if srv.kb else 'off'}"
    if srv.settings.engine is not None:
        ups = ", ".join(f"{u['url']} ({'up' if u['up'] else 'down'})" for u in srv.lane.status())
        return f"generation on {ups}, {kb}"
    fast = ", fast attention" if srv.settings.fast_attention else ""
    return (
        f"{srv.plan.slots} slot(s), {srv.plan.threads} thread(s), gpu layers "
        f"{srv.model.gpu_layers}, {kb}, {srv.lane.label}{fast}"
    )
