"""Training: one loss per stage (stage1, distill, stage2) and one loop that runs any of them."""
