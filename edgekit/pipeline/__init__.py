"""The build layer: `edgekit build` as named stages over one stage runner.

`build` runs them all; `runner` skips stages whose inputs are unchanged; `kb`, `qa`,
`train`, `quant` and `package` hold the stages of each part of the product."""

from edgekit.pipeline.run import build
from edgekit.pipeline.runner import RAN, SKIPPED, STAGE_LOG, BuildResult, work_dir

__all__ = ["RAN", "SKIPPED", "STAGE_LOG", "BuildResult", "build", "work_dir"]
