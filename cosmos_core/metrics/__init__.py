"""Control-fidelity scores of a finished output, computed on this machine (no GPU, no network).

Blur SSIM and Canny-F1 as the Cosmos Cookbook's "Transfer Model Evaluation" defines them (see
docs/upstream.md for the facts and the parameters chosen where the Cookbook names none):

- `plan.py`  what to compare (frame alignment, sampling, size, which scores apply): pure;
- `scores.py` the scores of one pair of frames and their running totals: pure computation with
  OpenCV and scikit-image;
- `video.py` decoding with PyAV, and the thumbnail: the only file I/O.

The heavy libraries load when a video is first scored, never when the command line or the page starts.
"""
