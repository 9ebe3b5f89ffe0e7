"""Denoising: the regional pipeline, attention processors, predictors, text encoding,
noise, samplers, and edits that keep pixels exactly."""
