/*
 * The course site's explorer viewer.
 *
 * Every <div class="tconv-explorer"> on a page holds, as gzipped JSON in
 * base64 (unpacked here with DecompressionStream), what
 * tconv_lib.widgets.export computed at build time: the controls, and the
 * panels of every combination of their values.  This script builds the
 * controls and, on every change, looks up the panels of the chosen
 * combination and draws them.  It computes nothing: every number it shows is
 * in the JSON.  No dependencies, no requests: it works from file:// too.
 *
 * Data layout (see the tconv_lib.widgets docstring):
 *   controls: [{name, label, values, default, play}]
 *   combos:   {"i,j,...": [panel id, ...]}   (indices of each control's value)
 *   panels:   [{kind, title, values: array id, ...}]
 *   arrays:   [array, ...]
 */
(function () {
  "use strict";

  var ARRAY_KEYS = ["values", "highlight", "dim", "mark", "cells", "rows", "cols"];
  var SEQ = [[255, 255, 255], [33, 102, 172]];
  var DIV = [[33, 102, 172], [255, 255, 255], [178, 24, 43]];
  var DIM_GREY = [232, 232, 232];
  var PLAY_MS = 900;
  var count = 0;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clamp(t, lo, hi) { return t < lo ? lo : (t > hi ? hi : t); }

  function blend(a, b, t) {
    return [0, 1, 2].map(function (i) { return Math.round(a[i] + (b[i] - a[i]) * t); });
  }

  // WCAG relative luminance of an sRGB colour (0-255 channels).
  function luminance(rgb) {
    var lin = rgb.map(function (c) {
      c /= 255;
      return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  }

  // The panel's colour scale, as tconv_lib.widgets draws it in Jupyter (_cell_colours):
  // greyed cells mixed towards grey; text black or white, whichever contrasts more.
  function colour(panel, v, dim) {
    var rgb;
    if (panel.scale === "seq") {
      rgb = blend(SEQ[0], SEQ[1], clamp((v - panel.vmin) / (panel.vmax - panel.vmin), 0, 1));
    } else {
      var u = clamp(v / panel.vmax, -1, 1);
      rgb = u < 0 ? blend(DIV[1], DIV[0], -u) : blend(DIV[1], DIV[2], u);
    }
    if (dim) rgb = blend(rgb, DIM_GREY, 0.7);
    var l = luminance(rgb);
    return { css: "rgb(" + rgb.join(",") + ")", dark: 1.05 / (l + 0.05) > (l + 0.05) / 0.05 };
  }

  function cellSet(list) {
    var set = {};
    (list || []).forEach(function (rc) { set[rc[0] + "," + rc[1]] = true; });
    return set;
  }

  // The explorer's data: gzipped JSON in base64 (or plain JSON).
  function load(root) {
    var source = root.querySelector('script[type="application/gzip"], script[type="application/json"]');
    if (source.type === "application/json") return Promise.resolve(JSON.parse(source.textContent));
    if (!window.DecompressionStream) {
      return Promise.reject(new Error("this browser cannot unpack the explorer (no DecompressionStream)"));
    }
    var text = atob(source.textContent.trim()), bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }

  function Explorer(root, data) {
    this.root = root;
    this.id = "tconv-x" + (++count);
    this.data = data;
    this.index = this.data.controls.map(function (c) { return c.values.indexOf(c.default); });
    this.inputs = [];
    this.timers = {};
    this.build();
    this.render();
  }

  Explorer.prototype.panel = function (id) {
    var stored = this.data.panels[id], panel = {}, arrays = this.data.arrays;
    Object.keys(stored).forEach(function (key) {
      panel[key] = ARRAY_KEYS.indexOf(key) >= 0 ? arrays[stored[key]] : stored[key];
    });
    return panel;
  };

  Explorer.prototype.build = function () {
    var self = this, data = this.data;
    var stale = this.root.querySelector(".tconv-noscript");
    if (stale) stale.parentNode.removeChild(stale);
    var head = el("div", "tconv-head");
    var title = el("strong", null, data.title);
    title.id = this.id + "-title";
    head.appendChild(title);
    this.root.setAttribute("role", "group");
    this.root.setAttribute("aria-labelledby", title.id);
    head.appendChild(document.createTextNode(" — " + data.blurb));
    var controls = el("div", "tconv-controls");
    data.controls.forEach(function (control, i) {
      var row = el("div", "tconv-control");
      row.setAttribute("data-name", control.name);
      var label = el("span", "tconv-label", control.label);
      label.id = self.id + "-c" + i;
      row.appendChild(label);
      if (control.play) row.appendChild(self.playButton(i));
      row.appendChild(control.values.length <= 6 ? self.buttons(control, i) : self.slider(control, i));
      controls.appendChild(row);
    });
    this.panels = el("div", "tconv-panels");
    this.panels.setAttribute("aria-live", "polite");
    this.root.appendChild(head);
    this.root.appendChild(controls);
    this.root.appendChild(this.panels);
    this.root.classList.add("tconv-ready");
  };

  Explorer.prototype.buttons = function (control, i) {
    var self = this, group = el("span", "tconv-buttons");
    group.setAttribute("role", "group");
    group.setAttribute("aria-labelledby", this.id + "-c" + i);
    var buttons = control.values.map(function (value, j) {
      var button = el("button", "tconv-button", value);
      button.type = "button";
      button.setAttribute("data-index", j);
      button.addEventListener("click", function () { self.set(i, j); });
      group.appendChild(button);
      return button;
    });
    this.inputs[i] = function (j) {
      buttons.forEach(function (b, k) { b.setAttribute("aria-pressed", k === j ? "true" : "false"); });
    };
    return group;
  };

  Explorer.prototype.slider = function (control, i) {
    var self = this, wrap = el("span", "tconv-slider");
    var input = el("input");
    input.type = "range";
    input.min = 0;
    input.max = control.values.length - 1;
    input.step = 1;
    input.setAttribute("aria-labelledby", this.id + "-c" + i);
    var shown = el("output", "tconv-value");
    shown.setAttribute("aria-hidden", "true");
    input.addEventListener("input", function () { self.set(i, Number(input.value)); });
    wrap.appendChild(input);
    wrap.appendChild(shown);
    this.inputs[i] = function (j) {
      input.value = j;
      input.setAttribute("aria-valuetext", String(control.values[j]));
      shown.textContent = String(control.values[j]);
    };
    return wrap;
  };

  Explorer.prototype.playButton = function (i) {
    var self = this, button = el("button", "tconv-play", "▶");
    button.type = "button";
    button.setAttribute("aria-label", "play through " + this.data.controls[i].label);
    button.setAttribute("aria-pressed", "false");
    function stop() {
      clearInterval(self.timers[i]);
      delete self.timers[i];
      button.textContent = "▶";
      button.setAttribute("aria-pressed", "false");
    }
    button.addEventListener("click", function () {
      if (self.timers[i]) return stop();
      var last = self.data.controls[i].values.length - 1;
      if (self.index[i] === last) self.set(i, 0);
      button.textContent = "❚❚";
      button.setAttribute("aria-pressed", "true");
      self.timers[i] = setInterval(function () {
        if (self.index[i] >= last) return stop();
        self.set(i, self.index[i] + 1);
      }, PLAY_MS);
    });
    return button;
  };

  Explorer.prototype.set = function (i, j) {
    this.index[i] = j;
    this.render();
  };

  // Clicking a cell of a "pick" grid sets the two controls it names to the cell's row and column.
  Explorer.prototype.pick = function (names, r, c) {
    var controls = this.data.controls, self = this, targets = [r, c], found = [];
    names.forEach(function (name, n) {
      controls.forEach(function (control, i) {
        if (control.name === name && control.values.indexOf(targets[n]) >= 0) {
          found.push([i, control.values.indexOf(targets[n])]);
        }
      });
    });
    found.forEach(function (f) { self.index[f[0]] = f[1]; });
    if (!found.length) return;
    this.render();
    var again = this.panels.querySelectorAll("button.tconv-pick[aria-pressed='true']");
    if (again.length) again[0].focus();
  };

  Explorer.prototype.render = function () {
    var self = this;
    this.inputs.forEach(function (update, i) { update(self.index[i]); });
    var ids = this.data.combos[this.index.join(",")] || [];
    var fresh = el("div", "tconv-panels");
    fresh.setAttribute("aria-live", "polite");
    ids.forEach(function (id) {
      var panel = self.panel(id);
      var draw = { grid: self.grid, series: self.series, text: self.text }[panel.kind];
      if (draw) fresh.appendChild(draw.call(self, panel));
    });
    this.panels.parentNode.replaceChild(fresh, this.panels);
    this.panels = fresh;
  };

  function titled(panel, body) {
    var box = el("div", "tconv-panel tconv-" + panel.kind);
    box.appendChild(el("div", "tconv-title", panel.title));
    var table = body.querySelector && body.querySelector("table");
    if (table) table.setAttribute("aria-label", panel.title);
    box.appendChild(body);
    if (panel.note) box.appendChild(el("div", "tconv-caption", panel.note));
    return box;
  }

  Explorer.prototype.grid = function (panel) {
    var self = this;
    var table = el("table", "tconv-grid " + (panel.annotate ? "tconv-annotated" : "tconv-small"));
    var highlight = cellSet(panel.highlight), dim = cellSet(panel.dim), mark = cellSet(panel.mark);
    var frame = panel.frame;
    if (panel.cols) {
      var header = el("tr");
      if (panel.rows) header.appendChild(el("th"));
      panel.cols.forEach(function (c) { header.appendChild(el("th", null, c)); });
      table.appendChild(header);
    }
    panel.values.forEach(function (row, r) {
      var tr = el("tr");
      if (panel.rows) tr.appendChild(el("th", null, panel.rows[r]));
      row.forEach(function (v, c) {
        var key = r + "," + c, classes = [], greyed = !!dim[key];
        var label = panel.annotate ? (panel.cells ? panel.cells[r][c] : String(v)) : "";
        if (mark[key]) label += "•";
        var inside = true;
        if (frame) {
          inside = r >= frame[0] && r < frame[0] + frame[2] && c >= frame[1] && c < frame[1] + frame[3];
          if (!inside) greyed = true;
          if (inside && r === frame[0]) classes.push("tconv-ft");
          if (inside && r === frame[0] + frame[2] - 1) classes.push("tconv-fb");
          if (inside && c === frame[1]) classes.push("tconv-fl");
          if (inside && c === frame[1] + frame[3] - 1) classes.push("tconv-fr");
        }
        var look = colour(panel, v, greyed);
        var td = el("td");
        td.style.background = look.css;
        if (look.dark) classes.push("tconv-dark");
        if (highlight[key]) classes.push("tconv-hl");
        if (greyed) classes.push("tconv-dim");
        if (panel.pick) {
          // a grid to pick from: every cell is a button
          var button = el("button", "tconv-pick", label);
          button.type = "button";
          button.setAttribute("aria-label", panel.title + ": pixel (" + r + ", " + c + ") = " + v);
          button.setAttribute("aria-pressed", highlight[key] ? "true" : "false");
          button.addEventListener("click", function () { self.pick(panel.pick, r, c); });
          td.appendChild(button);
        } else {
          td.textContent = label;
        }
        td.className = classes.join(" ");
        td.setAttribute("data-value", String(v));
        tr.appendChild(td);
      });
      table.appendChild(tr);
    });
    var scroll = el("div", "tconv-scroll");
    scroll.appendChild(table);
    return titled(panel, scroll);
  };

  Explorer.prototype.series = function (panel) {
    var ns = "http://www.w3.org/2000/svg", n = panel.values.length;
    var bar = Math.max(6, Math.min(28, Math.floor(480 / Math.max(n, 1)))), height = 80;
    var highlight = {};
    (panel.highlight || []).forEach(function (i) { highlight[i] = true; });
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", n * bar);
    svg.setAttribute("height", height + 16);
    svg.setAttribute("class", "tconv-bars");
    panel.values.forEach(function (v, i) {
      var top = height * Math.max(v, 0) / (panel.vmax || 1);
      var rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", i * bar + 1);
      rect.setAttribute("y", height - top + 14);
      rect.setAttribute("width", bar - 2);
      rect.setAttribute("height", top);
      rect.setAttribute("class", highlight[i] ? "tconv-bar tconv-bar-hl" : "tconv-bar");
      rect.setAttribute("data-value", String(v));
      svg.appendChild(rect);
      if (n <= 40) {
        var label = document.createElementNS(ns, "text");
        label.setAttribute("x", i * bar + bar / 2);
        label.setAttribute("y", height - top + 11);
        label.setAttribute("text-anchor", "middle");
        label.textContent = String(v);
        svg.appendChild(label);
      }
    });
    var scroll = el("div", "tconv-scroll");
    scroll.appendChild(svg);
    return titled(panel, scroll);
  };

  Explorer.prototype.text = function (panel) {
    return el(panel.style === "formula" ? "pre" : "div", "tconv-text tconv-" + panel.style, panel.text);
  };

  function start() {
    var roots = document.querySelectorAll(".tconv-explorer:not(.tconv-ready):not(.tconv-loading)");
    Array.prototype.forEach.call(roots, function (root) {
      root.classList.add("tconv-loading");
      load(root).then(function (data) {
        root.classList.remove("tconv-loading");
        root.tconvExplorer = new Explorer(root, data);
      }, function (error) {
        root.classList.remove("tconv-loading");
        var message = root.querySelector(".tconv-noscript");
        if (message) message.textContent = "This explorer could not start: " + error.message +
          ". Run the page as a notebook instead.";
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
