// The compare view's difference overlay: the current image dimmed to grey, every pixel
// that differs from the compared entry painted magenta (brighter where it differs more).

/** Both images loaded; their RGBA pixels (same origin, so the canvas is readable). */
async function pixels(image) {
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(image, 0, 0);
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

/** The difference of images `a` and `b` (loaded or loading): `{ image, changed }`, the
 * overlay as ImageData and the number of pixels that differ. */
export async function difference(a, b) {
  const [first, second] = await Promise.all([pixels(a), pixels(b)]);
  if (first.width !== second.width || first.height !== second.height) {
    throw new Error(`the images differ in size (${first.width}x${first.height} and ${second.width}x${second.height})`);
  }
  const out = new ImageData(first.width, first.height);
  let changed = 0;
  for (let i = 0; i < first.data.length; i += 4) {
    const delta = Math.max(
      Math.abs(first.data[i] - second.data[i]),
      Math.abs(first.data[i + 1] - second.data[i + 1]),
      Math.abs(first.data[i + 2] - second.data[i + 2]),
    );
    if (delta > 0) {
      changed += 1;
      const level = 128 + Math.round((127 * delta) / 255); // even a one-level change shows
      out.data.set([level, 0, level, 255], i);
    } else {
      const grey = Math.round((first.data[i] + first.data[i + 1] + first.data[i + 2]) / 12) + 150;
      out.data.set([grey, grey, grey, 255], i);
    }
  }
  return { image: out, changed };
}
