"""Export trained models to deployable artefacts (ONNX, ONNX FP16, TensorRT engines) and check
each step against the previous one on real frames."""
