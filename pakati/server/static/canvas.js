// The canvas view: the image, an SVG overlay of regions, drawing boxes and polygons in
// exact canvas pixels at any zoom.

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
export const ZOOMS = [0.5, 1, 2, 3, 4, 6, 8];

function el(name, attrs) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  return node;
}

export class CanvasView {
  /** `hooks`: onCreate(shape), onSelect(name), onZoom(zoom). */
  constructor(stage, overlay, image, hooks) {
    this.stage = stage;
    this.overlay = overlay;
    this.image = image;
    this.hooks = hooks;
    this.tool = "box";
    this.zoom = 1;
    this.width = 128;
    this.height = 128;
    this.drag = null; // box being drawn: {x0, y0, x1, y1}
    this.points = []; // polygon being drawn
    this.brush = 8; // brush radius in canvas pixels
    this.stroke = null; // mask being painted: {canvas, context, points}
    overlay.addEventListener("pointerdown", (e) => this.down(e));
    overlay.addEventListener("pointermove", (e) => this.move(e));
    overlay.addEventListener("pointerup", (e) => this.up(e));
    overlay.addEventListener("dblclick", (e) => { e.preventDefault(); this.closePolygon(); });
  }

  /** Canvas pixel under a pointer event (rounded; inside the canvas). */
  point(event) {
    const rect = this.overlay.getBoundingClientRect();
    const x = ((event.clientX - rect.left) * this.width) / rect.width;
    const y = ((event.clientY - rect.top) * this.height) / rect.height;
    return [Math.min(this.width, Math.max(0, Math.round(x))), Math.min(this.height, Math.max(0, Math.round(y)))];
  }

  setTool(tool) {
    this.tool = tool;
    this.drag = null;
    this.points = [];
    this.drawDraft();
  }

  setZoom(zoom) {
    this.zoom = zoom;
    this.resize();
    if (this.last) this.render(...this.last);
    this.hooks.onZoom(zoom);
  }

  resize() {
    this.stage.style.width = `${this.width * this.zoom}px`;
    this.stage.style.height = `${this.height * this.zoom}px`;
  }

  down(event) {
    if (event.button !== 0) return;
    const [x, y] = this.point(event);
    if (this.tool === "box") {
      this.overlay.setPointerCapture(event.pointerId);
      this.drag = { x0: x, y0: y, x1: x, y1: y };
    } else if (this.tool === "polygon") {
      if (event.detail > 1) return; // the clicks of a double-click
      this.points.push([x, y]);
    } else if (this.tool === "brush") {
      this.overlay.setPointerCapture(event.pointerId);
      const canvas = document.createElement("canvas");
      canvas.width = this.width;
      canvas.height = this.height;
      const context = canvas.getContext("2d");
      // Painted pixels are opaque, the rest transparent: the mask is the alpha channel.
      context.strokeStyle = context.fillStyle = "#fff";
      context.lineCap = context.lineJoin = "round";
      context.lineWidth = 2 * this.brush;
      this.stroke = { canvas, context, points: [[x, y]] };
      this.paint([x, y]);
    } else {
      const name = event.target.dataset ? event.target.dataset.region : undefined;
      this.hooks.onSelect(name || null);
    }
    this.drawDraft();
  }

  move(event) {
    if (this.stroke) {
      this.paint(this.point(event));
      this.drawDraft();
    } else if (this.drag) {
      [this.drag.x1, this.drag.y1] = this.point(event);
      this.drawDraft();
    } else if (this.tool === "polygon" && this.points.length) {
      this.cursor = this.point(event);
      this.drawDraft();
    }
  }

  up(event) {
    if (this.stroke) {
      const stroke = this.stroke;
      this.stroke = null;
      this.drawDraft();
      const png = stroke.canvas.toDataURL("image/png").split(",")[1];
      this.hooks.onCreate({ mask_png: png });
      return;
    }
    if (!this.drag) return;
    [this.drag.x1, this.drag.y1] = this.point(event);
    const { x0, y0, x1, y1 } = this.drag;
    this.drag = null;
    this.drawDraft();
    const box = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
    if (box[2] - box[0] >= 2 && box[3] - box[1] >= 2) this.hooks.onCreate({ box });
  }

  /** Paint the brush from the stroke's last point to `point` (canvas pixels). */
  paint(point) {
    const { context, points } = this.stroke;
    const last = points[points.length - 1];
    context.beginPath();
    context.arc(point[0], point[1], this.brush, 0, 2 * Math.PI);
    context.fill();
    context.beginPath();
    context.moveTo(last[0], last[1]);
    context.lineTo(point[0], point[1]);
    context.stroke();
    points.push(point);
  }

  closePolygon() {
    if (this.tool !== "polygon") return;
    const points = this.points;
    this.points = [];
    this.cursor = null;
    this.drawDraft();
    if (points.length >= 3) this.hooks.onCreate({ polygon: points });
  }

  cancelDraft() {
    this.stroke = null;
    this.drag = null;
    this.points = [];
    this.drawDraft();
  }

  drawDraft() {
    this.overlay.querySelectorAll(".draft").forEach((node) => node.remove());
    if (this.drag) {
      const { x0, y0, x1, y1 } = this.drag;
      this.overlay.append(el("rect", {
        class: "draft", x: Math.min(x0, x1), y: Math.min(y0, y1),
        width: Math.abs(x1 - x0), height: Math.abs(y1 - y0),
      }));
    }
    if (this.stroke) {
      this.overlay.append(el("polyline", {
        class: "draft brush", points: this.stroke.points.map((p) => p.join(",")).join(" "),
        "stroke-width": 2 * this.brush,
      }));
    }
    if (this.points.length) {
      const all = this.cursor ? [...this.points, this.cursor] : this.points;
      this.overlay.append(el("polyline", { class: "draft", points: all.map((p) => p.join(",")).join(" ") }));
    }
  }

  /** Draw the layout's regions; `locked` names, `selected` name. */
  render(layout, locked, selected, imageUrl) {
    this.last = [layout, locked, selected, imageUrl];
    if (layout.width !== this.width || layout.height !== this.height) {
      this.width = layout.width;
      this.height = layout.height;
      this.resize();
    }
    this.overlay.setAttribute("viewBox", `0 0 ${this.width} ${this.height}`);
    this.overlay.setAttribute("preserveAspectRatio", "none");
    this.overlay.replaceChildren();
    layout.regions.forEach((region, index) => {
      const colour = COLOURS[index % COLOURS.length];
      const classes = ["region"];
      if (locked.includes(region.name)) classes.push("locked");
      if (region.name === selected) classes.push("selected");
      const common = { class: classes.join(" "), fill: colour, stroke: colour, "data-region": region.name };
      let shape;
      let anchor = [0, 0];
      if (region.box) {
        const [x0, y0, x1, y1] = region.box;
        shape = el("rect", { ...common, x: x0, y: y0, width: x1 - x0, height: y1 - y0 });
        anchor = [x0, y0];
      } else if (region.polygon) {
        shape = el("polygon", { ...common, points: region.polygon.map((p) => p.join(",")).join(" ") });
        anchor = region.polygon[0];
      } else if (region.mask_png) {
        // The mask (white or opaque = inside) tints the region's colour.
        const id = `mask-${index}`;
        const mask = el("mask", { id, maskUnits: "userSpaceOnUse" });
        mask.append(el("image", {
          x: 0, y: 0, width: this.width, height: this.height, preserveAspectRatio: "none",
          href: `data:image/png;base64,${region.mask_png}`,
        }));
        this.overlay.append(mask);
        shape = el("rect", {
          ...common, x: 0, y: 0, width: this.width, height: this.height, mask: `url(#${id})`,
          "stroke-width": 0,
        });
      }
      if (!shape) return;
      this.overlay.append(shape);
      // Labels keep their on-screen size whatever the zoom.
      const size = 11 / this.zoom;
      const label = el("text", {
        x: anchor[0] + 2 / this.zoom, y: anchor[1] + size, fill: colour,
        "font-size": size, "stroke-width": 3 / this.zoom,
      });
      label.textContent = (locked.includes(region.name) ? "(locked) " : "") + region.name;
      this.overlay.append(label);
    });
    this.drawDraft();
    if (imageUrl) {
      if (this.image.getAttribute("src") !== imageUrl) this.image.src = imageUrl;
      this.image.hidden = false;
    } else {
      this.image.hidden = true;
      this.image.removeAttribute("src");
    }
  }
}
