"""What the depth tools suggest when a model is missing (shared by the checkpoint loader and the node's refusal)."""

# A depth model for plumbing tests (the pipeline running end to end), trained on synthetic scenes: 100 steps at 96x64,
# measured 48 s and 57 s wall (40-41 s CPU) on this project's 2-core machine with other jobs running; a similar run took
# 2.5 minutes at load average 8 (docs/depth-training.md, "A checkpoint for plumbing tests"). Its depth means nothing
# on real images.
QUICK_SYNTHETIC_TRAINING = ('jdd-ros train-depth --synthetic 200 --input-size 64 96 --epochs 4 --lr 1e-3 --loss silog '
                            '--out depth.pt')
QUICK_SYNTHETIC_MINUTES = 'about 1 minute on 2 cores, under 3 on a busy machine'
