"""The video runtime: sources, pre/post-processing, inference backends, the threaded pipeline
and sinks."""
