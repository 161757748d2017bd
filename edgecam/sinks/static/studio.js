// The preview page's studio: regions drawn on the picture, the capture folder's pictures, and
// the train button. Plain JavaScript, no build step. Every action is one call of the JSON API
// (docs/browser-setup.md), so a script or Home Assistant can do all of it too.
(() => {
  'use strict';
  const q = location.search, $ = id => document.getElementById(id);

  async function api(method, path, body, args) {
    const init = {method, cache: 'no-store'};
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = {'Content-Type': 'application/json'};
    }
    const query = args ? (q ? q + '&' : '?') + new URLSearchParams(args) : q;
    const r = await fetch('api/' + path + query, init);
    const data = await r.json().catch(() => ({error: 'HTTP ' + r.status}));
    if (!r.ok) throw Object.assign(new Error(data.error || 'HTTP ' + r.status), {status: r.status});
    return data;
  }
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    Object.assign(e, props || {});
    e.append(...children);
    return e;
  }
  const pct = x => (100 * x).toFixed(x >= 0.995 || x < 0.1 ? 0 : 1) + '%';

  // -- regions: drawn, moved and resized on the picture, named in the list -------------------
  let frame = null, regions = [], applied = '[]', editing = false, drag = null;
  const boxes = $('boxes');

  function regionCard() {
    return el('section', {className: 'card', id: 'regioncard'},
      el('h2', {}, 'Regions'),
      el('p', {className: 'dim', id: 'regionhelp'},
        'The places the model watches instead of the whole frame. Press Edit, then drag on ',
        'the picture to draw one; drag a box to move it, its corner to resize it.'),
      el('ul', {id: 'regionlist'}),
      el('div', {className: 'row'},
        el('button', {id: 'editregions', type: 'button', className: 'secondary'}, 'Edit'),
        el('button', {id: 'applyregions', type: 'button', disabled: true}, 'Apply'),
        el('button', {id: 'resetregions', type: 'button', className: 'secondary',
                      disabled: true}, 'Undo')),
      el('p', {className: 'dim', id: 'regionsaid'}));
  }
  function setRegions(data) {
    frame = data.frame || frame;
    regions = data.regions.map(r => ({name: r.name, box: r.box.slice()}));
    applied = JSON.stringify(regions);
    if (frame) document.querySelector('.picture').style.aspectRatio = frame[0] + ' / ' + frame[1];
    const where = data.site_file ? 'Kept in ' + data.site_file + '.'
      : data.keep ? 'To keep them, start live with: ' : 'Watching the whole frame.';
    $('regionsaid').replaceChildren(data.not_saved ? 'Not saved: ' + data.not_saved + '. ' : '',
      where, !data.site_file && data.keep ? el('code', {}, data.keep) : '');
    showRegions();
  }
  function changed() { return JSON.stringify(regions) !== applied; }
  function showRegions() {
    enable();
    $('editregions').textContent = editing ? 'Done' : 'Edit';
    boxes.hidden = !editing || !frame;
    const list = $('regionlist');
    const focused = document.activeElement && document.activeElement.dataset.index;
    list.replaceChildren(...regions.map((r, i) => {
      const name = el('input', {value: r.name, id: 'regionname' + i, autocomplete: 'off',
                                title: 'the region\'s name'});
      name.dataset.index = i;
      name.oninput = () => { r.name = name.value; showBoxes(); enable(); };
      const remove = el('button', {type: 'button', className: 'secondary small', title: 'remove',
                                   onclick: () => { regions.splice(i, 1); showRegions(); }}, '×');
      return el('li', {}, name, el('span', {className: 'dim'}, r.box.join(', ')),
                el('b', {className: 'state', id: 'regionstate' + i}), remove);
    }));
    if (focused !== undefined && $('regionname' + focused)) $('regionname' + focused).focus();
    showBoxes();
  }
  function enable() { $('applyregions').disabled = $('resetregions').disabled = !changed(); }
  function showBoxes() {
    if (!frame) return;
    const [W, H] = frame;
    boxes.replaceChildren(...regions.map((r, i) => {
      const [x, y, w, h] = r.box;
      const box = el('div', {className: 'box', title: r.name},
        el('span', {}, r.name), el('i', {className: 'handle'}));
      Object.assign(box.style, {left: 100 * x / W + '%', top: 100 * y / H + '%',
                                width: 100 * w / W + '%', height: 100 * h / H + '%'});
      box.dataset.index = i;
      return box;
    }));
  }
  function point(ev) {  // the pointer in pixels of the frame, inside it
    const rect = boxes.getBoundingClientRect(), [W, H] = frame;
    const x = Math.round((ev.clientX - rect.left) / rect.width * W);
    const y = Math.round((ev.clientY - rect.top) / rect.height * H);
    return [Math.min(W, Math.max(0, x)), Math.min(H, Math.max(0, y))];
  }
  function freeName() {
    for (let n = regions.length + 1; ; n++) {
      if (!regions.some(r => r.name === 'region ' + n)) return 'region ' + n;
    }
  }
  boxes.addEventListener('pointerdown', ev => {
    if (!frame || ev.button !== 0) return;
    ev.preventDefault();
    const [px, py] = point(ev), target = ev.target.closest('.box');
    if (!target) {  // on the picture: a new region
      regions.push({name: freeName(), box: [px, py, 0, 0]});
      drag = {mode: 'draw', index: regions.length - 1, from: [px, py]};
    } else {
      const index = Number(target.dataset.index), [x, y] = regions[index].box;
      drag = {mode: ev.target.classList.contains('handle') ? 'resize' : 'move', index,
              offset: [px - x, py - y]};
    }
    boxes.setPointerCapture(ev.pointerId);
  });
  boxes.addEventListener('pointermove', ev => {
    if (!drag) return;
    const [px, py] = point(ev), [W, H] = frame, r = regions[drag.index];
    if (drag.mode === 'draw') {
      const [fx, fy] = drag.from;
      r.box = [Math.min(fx, px), Math.min(fy, py), Math.abs(px - fx), Math.abs(py - fy)];
    } else if (drag.mode === 'move') {
      const [, , w, h] = r.box;
      r.box = [Math.min(W - w, Math.max(0, px - drag.offset[0])),
               Math.min(H - h, Math.max(0, py - drag.offset[1])), w, h];
    } else {
      const [x, y] = r.box;
      r.box = [x, y, Math.max(2, px - x), Math.max(2, py - y)];
    }
    showBoxes();
  });
  boxes.addEventListener('pointerup', () => {
    if (!drag) return;
    const r = regions[drag.index], made = drag.mode === 'draw';
    drag = null;
    if (made && (r.box[2] < 4 || r.box[3] < 4)) regions.pop();  // a click, not a box
    showRegions();
    if (made && $('regionname' + (regions.length - 1))) {
      const name = $('regionname' + (regions.length - 1));
      name.focus(); name.select();
    }
  });
  async function applyRegions() {
    $('applyregions').disabled = true;
    try {
      setRegions(await api('PUT', 'regions', {regions}));
      $('regionsaid').prepend('Applied: from the next frame on. ');
    } catch (e) {
      $('regionsaid').textContent = 'Not applied: ' + e.message;
      enable();
    }
  }

  // -- the capture folder: counts, thumbnails, delete ----------------------------------------
  let listed = '', watching;
  async function showDataset() {
    let data;
    try { data = await api('GET', 'dataset'); } catch (e) {
      if (e.status === 404) clearInterval(watching);  // no capture folder: it will not come
      return;
    }
    const text = JSON.stringify(data);
    if (text === listed) return;
    listed = text;
    $('dataset').replaceChildren(...Object.entries(data.labels).map(([label, count]) => {
      const again = el('button', {type: 'button', className: 'secondary small',
                                  onclick: () => window.capture(label)}, 'Save as ' + label);
      const thumbs = data.pictures[label].map(name => {
        const img = el('img', {alt: label + ': ' + name, loading: 'lazy', title: name,
                               src: 'api/picture' + (q ? q + '&' : '?')
                                 + new URLSearchParams({label, name})});
        const del = el('button', {type: 'button', className: 'delete', title: 'delete ' + name,
                                  onclick: () => removePicture(label, name)}, '×');
        return el('figure', {}, img, del);
      });
      return el('div', {className: 'label'},
        el('div', {className: 'row'}, el('b', {}, label),
           el('span', {className: 'dim count'}, count + (count === 1 ? ' picture' : ' pictures')),
           again),
        el('div', {className: 'thumbs'}, ...thumbs));
    }));
  }
  async function removePicture(label, name) {
    try {
      await api('DELETE', 'picture', undefined, {label, name});
      $('captured').textContent = 'deleted ' + name + ' of ' + label;
    } catch (e) { $('captured').textContent = 'not deleted: ' + e.message; }
    showDataset();
  }

  // -- the train button -------------------------------------------------------------------------
  function trainCard() {
    const field = (id, label, props) => el('label', {}, label, el('input', {id, ...props}));
    return el('section', {className: 'card', id: 'traincard'},
      el('h2', {}, 'Train'),
      el('p', {className: 'dim'}, 'Teaches a model the labels above (the newest fifth of each ',
        'label\'s pictures held out to check it), measures each size on this device and ',
        'switches live to the most accurate one that keeps up. The model running now keeps ',
        'running until then.'),
      el('div', {className: 'row'},
        el('button', {id: 'train', type: 'button', onclick: startTraining}, 'Train'),
        el('button', {id: 'canceltrain', type: 'button', className: 'secondary', hidden: true,
                      onclick: cancelTraining}, 'Cancel')),
      el('div', {className: 'bar'}, el('i', {id: 'trainbar'})),
      el('p', {id: 'trainstate'}), el('div', {id: 'trainresult'}),
      el('details', {}, el('summary', {className: 'dim'}, 'Options'),
        el('div', {className: 'options'},
          field('trainsizes', 'sizes (px)', {value: '128,160,224', inputMode: 'numeric'}),
          field('trainepochs', 'epochs', {placeholder: 'default', inputMode: 'numeric'}),
          field('trainbudget', 'measuring (s)', {value: '30', inputMode: 'numeric'}))));
  }
  let training = null;
  async function startTraining() {
    const body = {sizes: $('trainsizes').value.split(',').filter(s => s.trim()).map(Number),
                  budget_s: Number($('trainbudget').value || 30)};
    if ($('trainepochs').value.trim()) body.epochs = Number($('trainepochs').value);
    $('train').disabled = true;
    try { showTraining(await api('POST', 'train', body)); } catch (e) {
      $('trainstate').textContent = 'Not started: ' + e.message;
      $('train').disabled = false;
    }
  }
  async function cancelTraining() {
    try { showTraining(await api('POST', 'train/cancel', {})); } catch (e) {
      $('trainstate').textContent = e.message;
    }
  }
  function showTraining(t) {
    training = t;
    const running = t.state === 'running';
    $('train').disabled = running;
    $('canceltrain').hidden = !running;
    $('trainbar').style.width = pct(t.progress || 0);
    const state = running ? (t.step || 'working') + ' (' + Math.round(t.seconds || 0) + ' s)'
      : t.state === 'done' ? 'Done in ' + Math.round(t.seconds || 0) + ' s: ' + t.step + '.'
      : t.state === 'failed' ? 'Not switched: ' + t.error + '.'
      : t.model ? 'Running ' + t.model + '.' : '';
    $('trainstate').textContent = state;
    $('trainstate').className = t.state === 'failed' ? 'bad' : '';
    const rows = (t.models || []).map(m => el('li', {},
      el('b', {}, m.resolution + ' px: '),
      'held-out accuracy ' + pct(m.val_accuracy) + ' of ' + m.val_images + ' pictures',
      m.unknown_rule ? el('div', {className: 'dim'}, m.unknown_rule) : ''));
    const c = t.chosen;
    $('trainresult').replaceChildren(
      rows.length ? el('ul', {className: 'sizes'}, ...rows) : '',
      c ? el('p', {}, 'Chosen: ' + c.resolution + ' px, ' + Number(c.fps || 0).toFixed(1)
        + ' FPS measured here (target ' + c.target_fps + ')'
        + (c.held_out_accuracy != null ? ', ' + c.held_out_accuracy + '% of the held-out '
          + 'pictures right' : '') + '.') : '',
      t.note ? el('p', {className: 'dim'}, t.note) : '',
      t.keep && t.state === 'done' ? el('p', {className: 'dim'}, 'To keep it, start live with ',
                                        el('code', {}, t.keep)) : '');
  }
  async function pollTraining() {
    try { showTraining(await api('GET', 'train')); } catch (e) { /* the page says offline */ }
    setTimeout(pollTraining, training && training.state === 'running' ? 1000 : 5000);
  }

  // -- start: the cards the server has -------------------------------------------------------
  async function start() {
    watching = setInterval(showDataset, 5000);
    showDataset();
    let data;
    try { data = await api('GET', 'regions'); } catch (e) { return; }  // no studio
    const capture = $('capturecard');
    capture.before(regionCard());
    capture.after(trainCard());
    $('editregions').onclick = () => { editing = !editing; showRegions(); };
    $('applyregions').onclick = applyRegions;
    $('resetregions').onclick = () => { regions = JSON.parse(applied); showRegions(); };
    setRegions(data);
    pollTraining();
  }
  let asking = false;
  window.studio = {
    stats(s) {  // a frame is shown: each region's state; the page learns the frame's size
      regions.forEach((r, i) => {
        const now = (s.regions || {})[r.name], out = $('regionstate' + i);
        if (out) out.textContent = now ? now.state || now.label : '';
      });
      if (frame || asking || !$('regioncard')) return;
      asking = true;
      api('GET', 'regions').then(d => { if (d.frame && !changed()) setRegions(d); })
        .catch(() => {}).finally(() => { asking = false; });
    },
    saved() { showDataset(); },
  };
  start();
})();
