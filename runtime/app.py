"""What `nircolor run` and `nircolor transcode` do: open the source, the backend and the sinks,
run the pipeline, report statistics and every frame that could not be written."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from . import backends, stats
from .pipeline import Pipeline, PipelineConfig, PipelineResult
from .sinks import open_sink
from .sources import VideoFileSource, open_source
from ..models.upsample import GuidedUpsampling


def report(result: PipelineResult, stats_json: str | None, extra: dict | None = None) -> None:
    print(f"read {result.frames_read} frames, wrote {result.frames_written}, dropped {result.dropped} (stopped by {result.stopped_by})")
    for index, why in result.skipped:
        print(f"  could not use source frame {index}: {why}")
    if stats_json:
        Path(stats_json).parent.mkdir(parents=True, exist_ok=True)
        Path(stats_json).write_text(json.dumps({**asdict(result), **(extra or {})}, indent=2) + "\n")


# Offline runs infer two frames per call by default: on a small CPU that lets decoding and
# encoding overlap inference (H.264 transcode at 93% of model-only speed against 88% with one).
OFFLINE_BATCH = 2


def run(source_uri: str, outputs: list[str], model: str = "default", backend: str = "auto", device: str = "auto",
        fp16: bool = False, policy: str | None = None, layout: str = "color", batch: int | None = None, codec: str = "h264",
        max_frames: int | None = None, stats_json: str | None = None, progress: bool = True,
        infer_scale: float | None = None) -> PipelineResult:
    source = open_source(source_uri)
    source.open()
    try:
        live = source.info.live if policy is None else policy == "live"
        if live and isinstance(source, VideoFileSource):
            source.realtime = True  # a recording in live mode plays at its own rate, as a camera would
        if batch is None:
            batch = 1 if live else OFFLINE_BATCH
        runner, why = backends.create(backend, model, fp16=fp16, device=device)
        with runner:
            info = runner.info
            # A model trained on downscaled frames says so in its metadata; --infer-scale overrides.
            if infer_scale is None:
                upsampling = GuidedUpsampling.for_frame(source.info.height, source.info.width, info.infer_size)
            else:
                upsampling = GuidedUpsampling.at(infer_scale)
            config = PipelineConfig(policy="live" if live else "offline", batch=batch, layout=layout, max_frames=max_frames, upsampling=upsampling)
            scaled = f"; network at {upsampling.scale:g} x the frame size, NIR-guided upsampling" if upsampling else ""
            print(f"backend {runner.name} on {info.device} ({why}); model {info.name} ({info.architecture}, {info.precision}){scaled}")
            width = source.info.width * (2 if layout == "side-by-side" else 1)
            audio_from = source_uri if isinstance(source, VideoFileSource) and source.info.audio else None
            sinks = [open_sink(uri, codec=codec, audio_from=audio_from) for uri in outputs]
            opened = []
            try:
                for sink in sinks:
                    opened.append(sink.open(source.info, (width, source.info.height)))
                total = source.info.frames if not live else None
                bar = tqdm(total=min(total, max_frames) if total and max_frames else total, unit="frame",
                           desc="transcode" if not live else "live", disable=not progress, dynamic_ncols=True)

                def tick(result: PipelineResult) -> None:
                    bar.update(1)

                result = Pipeline(source, runner, opened, config, on_frame=tick).run()
                bar.close()
            finally:
                for sink in opened:
                    sink.close()
    finally:
        source.close()
    print(stats.table(result.stats))
    report(result, stats_json, {"source": source_uri, "outputs": outputs, "backend": runner.name, "device": info.device,
                                "model": info.name, "config": asdict(config)})
    return result

