"""Per-region ControlNet: control maps, ControlNet loading, and residuals masked per region."""
