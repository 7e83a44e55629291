"""The receiver's deployment files say what the code does: the chart runs the CLI command that
exists, on the port it exposes, probes the app's health route and exposes only the event path."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from personio_pipeline import cli
from personio_pipeline.webhooks import receiver

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CHART = DEPLOY / "helm" / "webhook-receiver"


def test_the_chart_runs_the_receiver_command_with_probes_and_an_ingress_for_the_event_path():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    deployment = (CHART / "templates" / "deployment.yaml").read_text()
    ingress = (CHART / "templates" / "ingress.yaml").read_text()
    assert '["personio-pipeline", "webhooks", "serve", "--host", "0.0.0.0",' in deployment
    assert deployment.count("path: /healthz") == 2
    assert f"path: {receiver.PATH}" in ingress and "/healthz" not in ingress
    assert values["maxBodyBytes"] == receiver.MAX_BODY_BYTES
    assert values["ingress"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "64k"
    assert values["replicaCount"] >= 2 and values["envSecret"] == "personio-pipeline-env"


def test_the_app_serves_the_paths_the_deployment_uses(tmp_path):
    from personio_pipeline.store.db import create_engine

    app = receiver.create_app(create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}"), "key")
    assert {route.path for route in app.routes} == {receiver.PATH, "/healthz"}


def test_the_cli_options_the_chart_and_prod_local_pass_exist():
    help_text = CliRunner().invoke(cli.main, ["webhooks", "serve", "--help"]).output
    for option in ("--host", "--port", "--max-body-bytes"):
        assert option in help_text
    prod_local = (DEPLOY / "prod_local.sh").read_text()
    assert '"$BIN/personio-pipeline" webhooks serve --port "$WEBHOOK_PORT" &' in prod_local
    assert 'webhooks register "$WEBHOOK_PUBLIC_URL"' in prod_local
