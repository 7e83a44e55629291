"""How runs execute and log, for every job of the code location."""

import logging

import dagster as dg

from personio_pipeline.common import settings
from personio_pipeline.common.logs import configure_python_logging, json_handler


def run_loggers() -> dict[str, dg.LoggerDefinition] | None:
    """Loggers for `dg.Definitions`: the JSON console logger under Dagster's `console` key when
    JSON logs are on, else None (Dagster's default). Made here, not at module scope, so the
    defs-folder loader does not collect it on its own."""
    if not settings.json_logs_enabled():
        return None

    @dg.logger(
        config_schema={
            "log_level": dg.Field(str, is_required=False, default_value="INFO", description="The logger's threshold."),
            "name": dg.Field(str, is_required=False, default_value="dagster", description="The logger's name."),
        },
        description="Dagster run logs as JSON lines on stderr (company, run id, step, level, message).",
    )
    def json_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
        # Same config as Dagster's `console` logger, so run config written for it keeps working.
        logger = logging.Logger(init_context.logger_config["name"], init_context.logger_config["log_level"].upper())
        logger.addHandler(json_handler())
        return logger

    return {"console": json_console_logger}


@dg.definitions
def execution() -> dg.Definitions:
    configure_python_logging()
    return dg.Definitions(
        # A company run is a short chain of steps: one process per run (one pod per run on
        # Kubernetes) is much cheaper than a process per step.
        executor=dg.in_process_executor,
        # PERSONIO_LOG_FORMAT=json: run logs as JSON lines (common/logs.py).
        loggers=run_loggers(),
    )
