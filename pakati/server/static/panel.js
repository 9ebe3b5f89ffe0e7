// The side panel's forms: canvas settings, the region list, the selected region.

const NUMBER_FIELDS = new Set(["width", "height", "steps", "guidance_scale", "seed", "weight", "z"]);
const OPTIONAL_FIELDS = new Set(["steps", "guidance_scale", "seed", "model"]);

function read(input, optional) {
  const raw = input.value.trim();
  if (raw === "" && optional) return null;
  if (NUMBER_FIELDS.has(input.name)) {
    const value = Number(raw);
    return Number.isFinite(value) ? value : null;
  }
  return input.value;
}

function write(input, value) {
  const text = value === null || value === undefined ? "" : String(value);
  if (input.value !== text && document.activeElement !== input) input.value = text;
}

export class Panel {
  /** `hooks`: onSettings(changes), onRegion(name, changes), onSelect(name). */
  constructor(root, hooks) {
    this.settings = root.querySelector("#settings");
    this.regionForm = root.querySelector("#region");
    this.list = root.querySelector("#regions");
    this.hooks = hooks;
    for (const input of this.settings.querySelectorAll("input, select")) {
      input.addEventListener("change", () => {
        const optional = OPTIONAL_FIELDS.has(input.name) && input.name !== "model";
        const value = read(input, optional);
        if (value === null && !optional) return;
        hooks.onSettings({ [input.name]: value });
      });
    }
    for (const input of this.regionForm.querySelectorAll("input[name]")) {
      input.addEventListener("change", () => {
        const value = read(input, OPTIONAL_FIELDS.has(input.name));
        if (input.name === "name" && !value) return;
        hooks.onRegion(this.selected, { [input.name]: value });
      });
    }
  }

  render(layout, locked, selected) {
    this.selected = selected;
    for (const input of this.settings.querySelectorAll("input, select")) write(input, layout[input.name]);
    this.list.replaceChildren();
    for (const region of layout.regions) {
      const item = document.createElement("li");
      item.dataset.region = region.name;
      item.className = region.name === selected ? "selected" : "";
      const label = document.createElement("span");
      label.textContent = `${locked.includes(region.name) ? "(locked) " : ""}${region.name}: ${region.prompt || "(no prompt)"}`;
      item.append(label);
      item.addEventListener("click", () => this.hooks.onSelect(region.name));
      this.list.append(item);
    }
    const region = layout.regions.find((r) => r.name === selected);
    this.regionForm.disabled = !region;
    document.querySelector("#region-name").textContent = region ? region.name : "(draw or pick one)";
    document.querySelector("#lock").textContent = region && locked.includes(region.name) ? "Unlock" : "Lock";
    if (!region) return;
    for (const input of this.regionForm.querySelectorAll("input[name]")) write(input, region[input.name]);
  }
}
