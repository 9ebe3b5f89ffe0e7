"""Regions of a canvas: polygons, boxes and masks, rasterised and stacked by z-order."""
