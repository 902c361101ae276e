"""hosts check: one line per item, an item checked per model ok only when every model's is."""

from cosmos_core.executors.hostcheck import parse_checks


def test_items_checked_per_model_are_merged():
    out = ("noise\ndocker\tok\t24.0\ngpus\tabsent\tnvidia-smi not found\n"
           "image\tok\tct1:latest\nremote_dir\tok\t/r/ct1\n"
           "image\tfail\tct25:latest not found (docker pull or build it)\nremote_dir\tok\t/r/ct25\n")
    checks = parse_checks(out)
    assert checks["docker"] == {"status": "ok", "detail": "24.0"}
    assert checks["image"] == {"status": "fail",
                               "detail": "ct1:latest; ct25:latest not found (docker pull or build it)"}
    assert checks["remote_dir"] == {"status": "ok", "detail": "/r/ct1; /r/ct25"}
    assert checks["gpus"]["status"] == "absent"
