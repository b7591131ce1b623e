import json

from nircolor.runtime.bench import BenchConfig, model_gflop, run_bench


def test_bench_writes_figures_with_machine_and_config(tmp_path, monkeypatch):
    monkeypatch.setenv("NIRCOLOR_CACHE", str(tmp_path / "cache"))
    cfg = BenchConfig(models=("default", "snet16"), backends=("onnxruntime", "torch"), precisions=("fp32", "fp16"), resolutions=((64, 96),),
                      device="cpu", warmup=1, min_runs=3, min_seconds=0.0, pipeline_frames=6)
    report = run_bench(cfg, tmp_path / "b")
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved["machine"]["cpu"] and saved["config"]["resolutions"] == [[64, 96]]
    cells = {(c["model"], c["backend"], c["precision"]) for c in saved["cells"]}
    for model in ("default", "snet16"):
        assert {(model, "onnxruntime", "fp32"), (model, "onnxruntime", "fp16"), (model, "torch", "fp32")} <= cells
        assert any(f"{model} torch fp16" in s for s in saved["skipped"])  # no CUDA here: said, not hidden
    for c in saved["cells"]:
        # (the fraction of the measured peak can pass 1 when the peak was measured on a busy machine)
        assert c["runs"] >= 3 and c["p50_ms"] <= c["p95_ms"] <= c["max_ms"] and 0 < c["fraction_of_peak"] < float("inf")
    assert {(p["model"], p["policy"]) for p in saved["pipelines"]} == {(m, p) for m in ("default", "snet16") for p in ("offline", "live")}
    assert abs(sum(saved["pipelines"][0]["share_of_busy_time"].values()) - 1) < 1e-6
    assert "| snet16 | onnxruntime | fp32 |" in (tmp_path / "b.md").read_text()
    assert (tmp_path / "b-latency.png").stat().st_size > 1000 and (tmp_path / "b-throughput.png").stat().st_size > 1000
    assert report["peaks"]["cpu_fp32_gflops"] > 1


def test_flops_match_the_published_snet_cost():
    # docs/design.md: SNet-64 is about 74 GFLOP at 224x224; the shipped width-16 SNet 1/16 of that.
    full = model_gflop("snet16", 224, 224)
    assert 4.0 < full < 5.0


def test_bench_runs_a_model_at_its_working_size(tmp_path, monkeypatch):
    import torch

    from nircolor.models import checkpoint
    from nircolor.models.networks import create

    monkeypatch.setenv("NIRCOLOR_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    net = create("snet", width=4).eval()
    model = checkpoint.save(tmp_path / "small.pt", net, checkpoint.ModelCard("snet", {"width": 4}, net.multiple, infer_size=48))
    cfg = BenchConfig(models=(str(model),), backends=("torch",), precisions=("fp32",), resolutions=((64, 96), (32, 48)),
                      device="cpu", warmup=1, min_runs=3, min_seconds=0.0, pipeline_frames=4)
    report = run_bench(cfg, tmp_path / "b")
    big, small = report["cells"]
    assert (big["network_height"], big["network_width"]) == (32, 48) and big["upsample_ms"] > 0
    assert big["frame_ms"] == big["p50_ms"] + big["upsample_ms"]
    assert (small["network_height"], small["network_width"]) == (32, 48) and small["upsample_ms"] == 0
    assert big["gflop"] == small["gflop"]  # the same network input costs the same
    assert "long side at most 48 px" in (tmp_path / "b.md").read_text()

