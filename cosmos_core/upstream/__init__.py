"""What runs on the GPU host, as data (pure): the upstream Cosmos models, their parameters and specs,
the lines their logs and our scripts print, and the GPU queue's names. Each fact is cited in
docs/upstream.md; nothing here imports anything of ours from above."""
