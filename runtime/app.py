"""What `nircolor run` and `nircolor transcode` do: open the source, the backend and the sinks,
run the pipeline, report statistics and every frame that could not be written."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from nircolor import files

from . import backends, stats
from .backends import Runner
from .pipeline import Pipeline, PipelineConfig, PipelineError, PipelineResult
from .signals import StopOnSignals, signal_exit_status
from .sinks import ImageFolderSink, Sink, SinkError, check_destination, open_sink
from .sources import ImageSource, VideoFileSource, open_source
from ..models.upsample import WorkingSize


def report(result: PipelineResult, stats_json: str | None, extra: dict | None = None) -> None:
    print(f"read {result.frames_read} frames, wrote {result.frames_written}, dropped {result.dropped} (stopped by {result.stopped_by})")
    for index, why in result.skipped:
        print(f"  could not use source frame {index}: {why}")
    if result.skipped_count > len(result.skipped):
        print(f"  ... and {result.skipped_count - len(result.skipped)} more source frames that could not be used")
    if stats_json:
        path = Path(stats_json)
        try:
            files.write_json(path, {**asdict(result), **(extra or {})})
        except OSError as exc:
            raise SinkError(f"could not write the statistics {path}: {exc.strerror or exc}; the outputs are complete, "
                            "free some space or choose another --stats-json") from None


def exit_status(result: PipelineResult) -> int:
    """0 when the run did what was asked. An offline run (a transcode) cut short by a signal exits
    128 + the signal's number, as a shell reports it; one that could not write every frame of its
    source exits 3. A live run ends by a signal normally: that is how a camera demo is stopped."""
    if result.policy != "offline":
        return 0
    if result.interrupted_by:
        return signal_exit_status(result.interrupted_by)
    return 0 if result.complete else 3


# Offline runs infer two frames per call by default: on a small CPU that lets decoding and
# encoding overlap inference (H.264 transcode at 93% of model-only speed against 88% with one).
OFFLINE_BATCH = 2


def _prepare_outputs(outputs: list[str], source, codec: str, overwrite: bool, stats_json: str | None, auth: bool = True) -> list[Sink]:
    """Make and check every output before the source opens or the model loads: a wrong path is
    reported at once, and the input can never be an output."""
    source_path = getattr(source, "path", None)
    audio_from = source_path if isinstance(source, VideoFileSource) else None
    sinks = [open_sink(uri, codec=codec, audio_from=audio_from, overwrite=overwrite, auth=auth) for uri in outputs]
    for sink in sinks:
        sink.check(source_path)
    if isinstance(source, ImageSource):
        # Numbered frames written into the folder being read would replace or join the input.
        inputs = source.folders()
        for sink in sinks:
            if isinstance(sink, ImageFolderSink) and sink.path.resolve() in inputs:
                raise SinkError(f"output folder {sink.path} holds the input images; writing frames there would mix with or "
                                "replace them (even with --overwrite): choose another folder")
    if stats_json:
        stats_path = Path(stats_json)
        check_destination(stats_path, source_path, overwrite, "statistics")
        for sink in sinks:
            if isinstance(getattr(sink, "path", None), Path) and sink.path.resolve() == stats_path.resolve():
                raise SinkError(f"--stats-json {stats_path} is also an output of this run; give the statistics another name")
    return sinks


def _close_all(sinks: list[Sink], finished: bool = True) -> list[Exception]:
    """Close every sink even when one fails (each must finalize its file); return the failures.
    Not `finished`: file sinks keep what they wrote under their partial names."""
    errors = []
    for sink in sinks:
        if not finished:
            sink.keep_partial()
        try:
            sink.close()
        except Exception as exc:
            errors.append(exc)
    return errors


@dataclass(frozen=True)
class SourceOptions:
    """Where frames come from (see sources.URI_HELP)."""

    uri: str
    input_bits: int | None = None  # significant bits of 16-bit images (None: guessed from the first)


@dataclass(frozen=True)
class ModelOptions:
    """Which model, on which runner."""

    model: str = "default"
    backend: str = "auto"
    device: str = "auto"
    fp16: bool = False
    int8: bool = False
    infer_scale: float | None = None  # None: the model's own working size, inside its frame graph

    def create_runner(self, threads: int | None = None) -> tuple[Runner, str]:
        # The model runs as its self-contained frame graph (what an exported file does) unless
        # a fixed infer_scale asks for the host's padding and upsampling instead.
        return backends.create(self.backend, self.model, fp16=self.fp16, device=self.device, threads=threads,
                               whole_frames=self.infer_scale is None, int8=self.int8)


@dataclass(frozen=True)
class PipelineOptions:
    """How frames flow: `policy` None is live for cameras and streams, offline for files;
    `stabilise` None turns the temporal stabiliser on for video (files, cameras, streams, image
    sequences) and leaves a single still image as it is."""

    policy: str | None = None
    layout: str = "color"
    batch: int | None = None
    max_frames: int | None = None
    stabilise: bool | None = None


@dataclass(frozen=True)
class OutputOptions:
    """How outputs are written. `finish_only_complete`: file outputs take their names only if
    every frame was read and written (a fleet's rule); otherwise a transcode that reached its
    end, or a live run that was stopped, is finished."""

    codec: str = "h264"
    overwrite: bool = False
    stats_json: str | None = None
    auth: bool = True
    finish_only_complete: bool = False


def run(source: SourceOptions | str, outputs: list[str], model: ModelOptions = ModelOptions(),
        pipeline: PipelineOptions = PipelineOptions(), output: OutputOptions = OutputOptions(), progress: bool = True,
        runner: Runner | None = None, on_frame: Callable[[], None] | None = None) -> PipelineResult:
    """`runner`: a loaded model to use (and leave open), as a fleet worker keeps one for many
    recordings; default: made from `model` and closed at the end. `on_frame`: called once per
    frame written, beside the progress bar."""
    wanted = source if isinstance(source, SourceOptions) else SourceOptions(source)
    source_uri, stabilise = wanted.uri, pipeline.stabilise
    source = open_source(source_uri)
    if wanted.input_bits is not None:
        if not isinstance(source, ImageSource):
            raise ValueError("--input-bits is for 16-bit image files; video decoders already scale 10- and 12-bit video")
        source.bits = wanted.input_bits
    if stabilise is None:
        # A folder, glob or numbered sequence of images is a video saved frame by frame, and is
        # stabilised like one (the trust check keeps unrelated pictures from borrowing colour from
        # each other); one image given by itself is a still.
        stabilise = not (isinstance(source, ImageSource) and Path(source_uri).is_file())
    sinks = _prepare_outputs(outputs, source, output.codec, output.overwrite, output.stats_json, output.auth)
    source.open()
    for note in source.info.notes:
        print(f"note: {source_uri}: {note}")
    failure: PipelineError | None = None
    try:
        live = source.info.live if pipeline.policy is None else pipeline.policy == "live"
        if live and isinstance(source, VideoFileSource):
            source.realtime = True  # a recording in live mode plays at its own rate, as a camera would
        batch = pipeline.batch if pipeline.batch is not None else (1 if live else OFFLINE_BATCH)
        if runner is None:
            runner, why = model.create_runner()
            owned = runner
        else:
            why, owned = "loaded once for this worker", nullcontext(runner)
        with owned:
            info = runner.info
            working = WorkingSize(info.infer_size, model.infer_scale)
            config = PipelineConfig(policy="live" if live else "offline", batch=batch, layout=pipeline.layout, max_frames=pipeline.max_frames,
                                    working=working, stabilise=stabilise)
            if info.whole_frames:
                scaled = f"; whole-frame graph: frames over {info.infer_size} px are seen at that size and restored guided by the NIR" if info.infer_size else ""
            else:
                upsampling = working.upsampling(source.info.height, source.info.width) if source.info.height else None
                scaled = f"; network at {upsampling.scale:g} x the frame size, NIR-guided upsampling" if upsampling else ""
            steady = "; temporal stabiliser on (--no-stabilise: each frame as the exported graph colours it)" if stabilise else ""
            print(f"backend {runner.name} on {info.device} ({why}); model {info.name} ({info.architecture}, {info.precision}){scaled}{steady}")
            width = source.info.width * (2 if pipeline.layout == "side-by-side" else 1)
            opened: list[Sink] = []
            total = source.info.frames if not live else None
            bar = tqdm(total=min(total, pipeline.max_frames) if total and pipeline.max_frames else total, unit="frame",
                       desc="transcode" if not live else "live", disable=not progress, dynamic_ncols=True)
            def frame_done(_result) -> None:
                bar.update(1)
                if on_frame is not None:
                    on_frame()

            flow = Pipeline(source, runner, sinks, config, on_frame=frame_done)
            # Signals from here on drain and finalize instead of killing the process mid-write.
            finished = False
            with StopOnSignals(flow.request_stop):
                try:
                    for sink in sinks:  # each open returns the sink itself
                        sink.open(source.info, (width, source.info.height))
                        opened.append(sink)
                    result = flow.run()
                    # A live run ends when the user stops it; a transcode is finished only at its end.
                    finished = result.complete if output.finish_only_complete else (live or result.interrupted_by is None)
                except PipelineError as exc:
                    failure, result = exc, exc.result
                finally:
                    bar.close()
                    close_errors = _close_all(opened, finished=finished)
    finally:
        source.close()
    print(stats.table(result.stats))
    report(result, output.stats_json, {"source": source_uri, "outputs": outputs, "backend": runner.name, "device": info.device,
                                "model": info.name, "config": asdict(config)})
    if failure is not None:
        raise failure
    if close_errors:
        raise PipelineError(f"closing the outputs failed: {close_errors[0]}", result) from close_errors[0]
    return result
