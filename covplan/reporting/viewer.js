/* covplan report viewer: every slice of a case with its masks, drawn from data inside the
   page (covplan/reporting/viewer_data.py writes it). No library and nothing fetched, so the
   page works offline and from an e-mail attachment. Each .viewer element holds its case's
   data in a <script type="application/json">; it is decoded when the viewer comes near the
   screen, so that a long report opens at once. Without JavaScript the static picture of
   the case's key slice stays in its place. */
"use strict";
(() => {
  const AXIAL_WIDTH = 360;  // CSS pixels; the other views share its millimetres per pixel
  const UNCERTAINTY_COLOUR = [255, 221, 0];
  const MARK = "rgba(255, 255, 255, 0.7)";
  const NOTCH_PIXELS = 100, LINE_PIXELS = 40;  // Chromium scrolls 100 pixels a wheel notch, Firefox 3 lines
  const LUNG_SHARE = 0.7;  // lungs a little fainter than lesions: the lesions matter

  function bytesOf(base64) {
    const text = atob(base64);
    const bytes = new Uint8Array(text.length);
    for (let index = 0; index < text.length; index++) bytes[index] = text.charCodeAt(index);
    return bytes;
  }

  async function inflate(base64) {
    const stream = new Blob([bytesOf(base64)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  /* The slices out of their JPEG mosaic. An ImageBitmap is decoded once, where an <img>
     drawn into a canvas that is read back is decoded again: a third faster. */
  async function greyVolume(image, [slices, rows, columns]) {
    const picture = await createImageBitmap(new Blob([bytesOf(image.jpeg)], {type: "image/jpeg"}));
    const canvas = document.createElement("canvas");
    canvas.width = picture.width;
    canvas.height = picture.height;
    const context = canvas.getContext("2d", {willReadFrequently: true});
    context.drawImage(picture, 0, 0);
    picture.close();
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    const grey = new Uint8Array(slices * rows * columns);
    const [tileHeight, tileWidth] = image.tile;
    for (let z = 0; z < slices; z++) {
      const top = Math.floor(z / image.columns) * tileHeight, left = (z % image.columns) * tileWidth;
      for (let y = 0; y < rows; y++) {
        let source = ((top + y) * canvas.width + left) * 4;
        const target = (z * rows + y) * columns;
        for (let x = 0; x < columns; x++, source += 4) grey[target + x] = rgba[source];
      }
    }
    return grey;
  }

  /* The three planes through the point (z, y, x): which axis each one moves along, its
     rows and columns, and the voxel under a pixel. Coronal and sagittal put the last slice
     on top (head up for scans from the feet upwards); axial shows the array as stored,
     as the static overlay does. */
  function planes([slices, rows, columns], [dz, dy, dx]) {
    const voxel = (z, y, x) => (z * rows + y) * columns + x;
    return {
      axial: {axis: 0, height: rows, width: columns, pixel: [dy, dx],
              voxel: (point, row, column) => voxel(point[0], row, column),
              moves: (point, row, column) => [point[0], row, column]},
      coronal: {axis: 1, height: slices, width: columns, pixel: [dz, dx],
                voxel: (point, row, column) => voxel(slices - 1 - row, point[1], column),
                moves: (point, row, column) => [slices - 1 - row, point[1], column]},
      sagittal: {axis: 2, height: slices, width: rows, pixel: [dz, dy],
                 voxel: (point, row, column) => voxel(slices - 1 - row, column, point[2]),
                 moves: (point, row, column) => [slices - 1 - row, column, point[2]]},
    };
  }

  function greyTable(image, window) {
    const table = new Uint8Array(256);
    const [low, high] = image.encoding;
    for (let code = 0; code < 256; code++) {
      const value = low + code * (high - low) / 255;
      table[code] = Math.round(255 * Math.min(1, Math.max(0, (value - window.low) / (window.high - window.low))));
    }
    return table;
  }

  function controlsHtml(data) {
    const kinds = new Set(data.layers.map(layer => layer.kind));
    const toggle = (name, text) => `<label><input type="checkbox" name="${name}" checked> ${text}</label>`;
    const swatches = data.layers.map(layer =>
      `<span class="swatch" style="background: rgb(${layer.colour})"></span>${layer.name.replace(/[&<>"]/g, "")}`);
    const windows = data.image ? data.image.windows.map((window, index) =>
      `<label><input type="radio" name="window" value="${index}"${index ? "" : " checked"}> ${window.name}</label>`) : [];
    const slices = data.shape[0];
    return `<div class="views"></div>
      <form class="controls">
      ${slices > 1 ? `<label>axial slice <input type="range" name="slice" min="0" max="${slices - 1}"></label>
        <output name="where"></output>` : ""}
      <span>${kinds.has("lung") ? toggle("lung", "lungs") : ""} ${toggle("lesion", "lesions")}
        ${data.uncertainty ? `<label><input type="checkbox" name="uncertainty"> uncertainty
          <span class="swatch heat"></span> 0 to ${data.uncertainty.max.toFixed(2)} nats</label>` : ""}</span>
      <label>opacity <input type="range" name="opacity" min="0" max="100" value="50"></label>
      ${windows.length ? `<span>window ${windows.join(" ")}</span>` : ""}
      <span class="legend">${swatches.join(" ")}</span>
      </form>`;
  }

  class Viewer {
    constructor(element, data, volumes) {
      this.element = element;
      this.data = data;
      Object.assign(this, volumes);
      this.point = data.start.slice();
      this.planes = planes(data.shape, data.spacing);
      element.insertAdjacentHTML("beforeend", controlsHtml(data));
      // A form of its own: radio buttons of one name are one group per form (or per page).
      this.controls = element.querySelector(".controls");
      this.controls.addEventListener("submit", event => event.preventDefault());
      this.views = Object.entries(this.planes).filter(([name]) => name === "axial" || data.shape[0] > 1)
        .map(([name, plane]) => this.makeView(name, plane));
      this.readControls();
      this.controls.addEventListener("input", event => {
        if (event.target.name === "slice") this.point[0] = Number(event.target.value);
        else this.readControls();
        this.draw();
      });
      element.addEventListener("keydown", event => this.key(event));
      this.draw();
    }

    makeView(name, plane) {
      const canvas = document.createElement("canvas");
      canvas.className = name;
      canvas.title = `${name}: wheel to move through it, click or drag to move the other views`;
      const millimetres = AXIAL_WIDTH / (this.data.shape[2] * this.data.spacing[2]);
      const ratio = window.devicePixelRatio || 1;
      const width = Math.max(1, Math.round(plane.width * plane.pixel[1] * millimetres));
      const height = Math.max(1, Math.round(plane.height * plane.pixel[0] * millimetres));
      Object.assign(canvas.style, {width: width + "px", height: height + "px"});
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      this.element.querySelector(".views").append(canvas);
      const buffer = document.createElement("canvas");
      buffer.width = plane.width;
      buffer.height = plane.height;
      const view = {name, plane, canvas, buffer, pixels: new ImageData(plane.width, plane.height)};
      canvas.addEventListener("wheel", event => this.wheel(event, plane.axis), {passive: false});
      const pointTo = event => {
        const row = Math.floor(event.offsetY / canvas.clientHeight * plane.height);
        const column = Math.floor(event.offsetX / canvas.clientWidth * plane.width);
        this.point = plane.moves(this.point, row, column).map((value, axis) =>
          Math.min(this.data.shape[axis] - 1, Math.max(0, value)));
        this.draw();
      };
      canvas.addEventListener("pointerdown", pointTo);
      canvas.addEventListener("pointermove", event => { if (event.buttons === 1) pointTo(event); });
      return view;
    }

    readControls() {
      const form = name => this.controls.querySelector(`[name="${name}"]`);
      const shown = kind => Boolean(form(kind) && form(kind).checked);
      const opacity = form("opacity").value / 100;
      this.alpha = new Float32Array(256);
      this.colour = [];
      for (const layer of this.data.layers) {
        this.colour[layer.code] = layer.colour;
        this.alpha[layer.code] = shown(layer.kind) ? opacity * (layer.kind === "lung" ? LUNG_SHARE : 1) : 0;
      }
      this.uncertaintyAlpha = shown("uncertainty") ? Math.max(opacity, 0.3) : 0;
      const chosen = this.controls.querySelector('[name="window"]:checked');
      if (this.data.image) this.grey = greyTable(this.data.image, this.data.image.windows[chosen ? chosen.value : 0]);
    }

    /* A mouse's wheel notch is one slice; a touchpad's many small scrolls add up to one. */
    wheel(event, axis) {
      event.preventDefault();
      const pixels = event.deltaMode === WheelEvent.DOM_DELTA_PIXEL ? event.deltaY : event.deltaY * LINE_PIXELS;
      this.scrolled = Math.sign(pixels) === Math.sign(this.scrolled || 0) ? this.scrolled + pixels : pixels;
      const steps = Math.trunc(this.scrolled / NOTCH_PIXELS);
      this.scrolled -= steps * NOTCH_PIXELS;
      if (steps) this.move(axis, steps);
    }

    move(axis, step) {
      this.point[axis] = Math.min(this.data.shape[axis] - 1, Math.max(0, this.point[axis] + step));
      this.draw();
    }

    key(event) {
      const steps = {ArrowUp: 1, ArrowRight: 1, ArrowDown: -1, ArrowLeft: -1, PageUp: 10, PageDown: -10};
      // A slider or a radio button moves itself with the arrows.
      if (["range", "radio"].includes(event.target.type) || !(event.key in steps)) return;
      event.preventDefault();
      this.move(0, steps[event.key]);
    }

    draw() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => {
        this.pending = false;
        this.views.forEach(view => this.drawView(view));
        this.showPosition();
      });
    }

    drawView({plane, canvas, buffer, pixels}) {
      const out = pixels.data;
      for (let row = 0, at = 0; row < plane.height; row++) {
        for (let column = 0; column < plane.width; column++, at += 4) {
          const voxel = plane.voxel(this.point, row, column);
          let red = this.greyVoxels ? this.grey[this.greyVoxels[voxel]] : 0, green = red, blue = red;
          const code = this.masks[voxel], alpha = this.alpha[code];
          if (alpha > 0) {
            const [r, g, b] = this.colour[code];
            red += (r - red) * alpha; green += (g - green) * alpha; blue += (b - blue) * alpha;
          }
          if (this.uncertaintyAlpha > 0) {
            const weight = this.uncertainty[voxel] / 255 * this.uncertaintyAlpha;
            red += (UNCERTAINTY_COLOUR[0] - red) * weight;
            green += (UNCERTAINTY_COLOUR[1] - green) * weight;
            blue += (UNCERTAINTY_COLOUR[2] - blue) * weight;
          }
          out[at] = red; out[at + 1] = green; out[at + 2] = blue; out[at + 3] = 255;
        }
      }
      buffer.getContext("2d").putImageData(pixels, 0, 0);
      const context = canvas.getContext("2d");
      context.imageSmoothingEnabled = false;
      context.drawImage(buffer, 0, 0, canvas.width, canvas.height);
      this.markPlanes(context, plane, canvas);
    }

    /* Where the other planes cut this one: a line across coronal and sagittal at the
       axial slice, short ticks at the border of the axial view (lines over the lesion
       would hide it). */
    markPlanes(context, plane, canvas) {
      const [slices, rows, columns] = this.data.shape;
      const across = (slices - 1 - this.point[0] + 0.5) / slices * canvas.height;
      context.strokeStyle = MARK;
      context.lineWidth = window.devicePixelRatio || 1;
      context.beginPath();
      if (plane.axis === 0) {
        const y = (this.point[1] + 0.5) / rows * canvas.height, x = (this.point[2] + 0.5) / columns * canvas.width;
        const tick = 0.04 * canvas.width;
        context.moveTo(0, y); context.lineTo(tick, y); context.moveTo(canvas.width - tick, y); context.lineTo(canvas.width, y);
        context.moveTo(x, 0); context.lineTo(x, tick); context.moveTo(x, canvas.height - tick); context.lineTo(x, canvas.height);
      } else {
        context.moveTo(0, across);
        context.lineTo(canvas.width, across);
      }
      context.stroke();
    }

    showPosition() {
      const slider = this.controls.querySelector('[name="slice"]');
      if (!slider) return;
      slider.value = this.point[0];
      const step = this.data.slices_per_voxel, first = this.point[0] * step + 1;
      const total = this.data.shape[0] * step;
      this.controls.querySelector('[name="where"]').value = step > 1
        ? `slices ${first} to ${first + step - 1} of ${total}` : `${first} of ${total}`;
    }
  }

  async function start(element) {
    element.dataset.state = "loading";
    try {
      const data = JSON.parse(element.querySelector("script.viewer-data").textContent);
      const [masks, greyVoxels, uncertainty] = await Promise.all([
        inflate(data.masks),
        data.image ? greyVolume(data.image, data.shape) : null,
        data.uncertainty ? inflate(data.uncertainty.data) : null]);
      element.viewer = new Viewer(element, data, {masks, greyVoxels, uncertainty});
      element.querySelectorAll(".key-slice").forEach(picture => { picture.hidden = true; });
      element.dataset.state = "ready";
    } catch (error) {
      element.dataset.state = "failed";
      element.insertAdjacentHTML("beforeend",
        `<p class="note">The viewer could not start in this browser (${String(error).replace(/[&<>"]/g, "")}); ` +
        "the picture shows the case's key slice.</p>");
    }
  }

  const viewers = document.querySelectorAll(".viewer");
  if (!("IntersectionObserver" in window)) {
    viewers.forEach(start);
    return;
  }
  const observer = new IntersectionObserver(entries => entries.forEach(entry => {
    if (entry.isIntersecting) {
      observer.unobserve(entry.target);
      start(entry.target);
    }
  }), {rootMargin: "400px"});
  viewers.forEach(element => observer.observe(element));
})();
