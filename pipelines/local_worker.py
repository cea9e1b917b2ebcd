"""A local worker process of `--workers N`: Beam's own SDK worker, logging at the launcher's level.

Beam's local runner starts each worker as `python -m apache_beam.runners.worker.sdk_worker_main`, which
prints its start-up and shutdown at INFO on stderr (about 20 lines per worker) whatever the launcher's
`--log-level`: the local runner hands its workers no pipeline options, so Beam's
`--default_sdk_harness_log_level` never reaches them. This entry point puts a stderr handler at the
launcher's level on the root logger before Beam is imported (Beam's own logging setup then adds none)
and runs Beam's worker unchanged. Records still reach the launcher through Beam's logging channel.
"""
from __future__ import annotations

import logging
import os
import shlex
import sys

LEVEL_ENV = "VIML_SYNTH_WORKER_LOG_LEVEL"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # the launcher's (pipelines/cli.py)
# Beam's start-up warnings that say nothing a user can act on: optional BigQuery clients missing, no staging
# folder for pickled main sessions (we pickle none), and `direct_num_workers` without a running mode (we
# start the processes ourselves)
BENIGN = ("apitools not found", "No semi_persistent_directory found", "direct_running_mode should be")


def command() -> str:
    """The shell command Beam runs to start one worker."""
    return f"{shlex.quote(sys.executable)} -m pipelines.local_worker"


def main() -> None:
    level = getattr(logging, os.environ.get(LEVEL_ENV, "WARNING").upper(), logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(lambda record: not any(text in record.getMessage() for text in BENIGN))
    logging.getLogger().addHandler(handler)
    if level > logging.DEBUG:  # as in the launcher: Beam's own INFO chatter only at DEBUG
        logging.getLogger("apache_beam").setLevel(logging.WARNING)
    from apache_beam.runners.worker import sdk_worker_main

    sdk_worker_main.main(sys.argv)


if __name__ == "__main__":
    main()
