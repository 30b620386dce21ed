/* global document, fetch, URL */
// Creature Vision upload page: plain browser JavaScript, no build step.
// Flow: pick or shoot a photo → POST /classify (raw bytes) → show the top 3 →
// POST /feedback with a confirmation or a correction from GET /labels.
(function () {
  'use strict';
  var $ = function (id) {
    return document.getElementById(id);
  };
  var input = $('photo'),
    drop = $('drop'),
    preview = $('preview'),
    status = $('status');
  var result = $('result'),
    guesses = $('guesses'),
    meta = $('meta');
  var feedback = $('feedback'),
    form = $('correct-form'),
    select = $('breed'),
    thanks = $('thanks');
  var current = null; // last /classify answer
  var labels = [];

  function say(text, isError) {
    status.textContent = text || '';
    status.className = 'status' + (isError ? ' error' : '');
  }

  fetch('/labels')
    .then(function (r) {
      return r.json();
    })
    .then(function (body) {
      labels = body.labels || [];
    })
    .catch(function () {
      labels = [];
    });

  function pct(p) {
    if (p > 0 && p < 0.01) return '<1%';
    return Math.round(p * 100) + '%';
  }

  function show(answer) {
    current = answer;
    guesses.textContent = '';
    answer.topK.slice(0, 3).forEach(function (t) {
      var li = document.createElement('li');
      li.className = 'guess';
      li.innerHTML = '<div class="line"><span class="name"></span><span class="pct"></span></div><div class="bar"><span></span></div>';
      li.querySelector('.name').textContent = t.display;
      li.querySelector('.pct').textContent = pct(t.probability);
      li.querySelector('.bar span').style.width = Math.max(1, Math.round(t.probability * 100)) + '%';
      guesses.appendChild(li);
    });
    meta.textContent = 'Model ' + answer.modelVersion + ' · ' + answer.latencyMs + ' ms';
    $('top-name').textContent = answer.prediction.display;
    // "This doesn't look like a dog" / "none of our breeds": said plainly; the person can still say what it is below.
    $('verdict').textContent = answer.answer ? answer.answer.message : '';
    $('verdict').className = 'verdict' + (answer.answer && answer.answer.verdict !== 'breed' ? ' doubt' : '');
    select.textContent = '';
    labels
      .filter(function (l) {
        return l.label !== answer.prediction.label;
      })
      .forEach(function (l) {
        var o = document.createElement('option');
        o.value = l.label;
        o.textContent = l.display;
        select.appendChild(o);
      });
    feedback.hidden = false;
    form.hidden = true;
    thanks.hidden = true;
    setButtons(false);
    result.hidden = false;
  }

  function setButtons(disabled) {
    ['yes', 'no', 'send'].forEach(function (id) {
      $(id).disabled = disabled;
    });
  }

  function classify(file) {
    if (!file) return;
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    drop.classList.add('has-image');
    $('drop-text').innerHTML = '<span>Tap to choose another photo</span>';
    result.hidden = true;
    say('Looking at your dog…');
    fetch('/classify', { method: 'POST', headers: { 'content-type': file.type || 'application/octet-stream' }, body: file })
      .then(function (r) {
        return r.json().then(function (body) {
          return { ok: r.ok, body: body };
        });
      })
      .then(function (res) {
        if (!res.ok) throw new Error(res.body.message || 'the photo could not be classified');
        say('');
        show(res.body);
      })
      .catch(function (err) {
        say(err.message, true);
      });
  }

  function send(correct, label) {
    if (!current) return;
    setButtons(true);
    var body = { predictionId: current.predictionId, correct: correct };
    if (label) body.label = label;
    fetch('/feedback', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().then(function (b) {
          return { ok: r.ok, body: b };
        });
      })
      .then(function (res) {
        if (!res.ok) throw new Error(res.body.message || 'feedback was not accepted');
        feedback.hidden = true;
        var name =
          (
            labels.filter(function (l) {
              return l.label === res.body.label;
            })[0] || {}
          ).display || res.body.label;
        thanks.textContent = correct ? 'Thanks! Glad we got it right.' : 'Thanks! We will learn that this is a ' + name + '.';
        thanks.hidden = false;
      })
      .catch(function (err) {
        setButtons(false);
        say(err.message, true);
      });
  }

  input.addEventListener('change', function () {
    classify(input.files && input.files[0]);
  });
  $('yes').addEventListener('click', function () {
    send(true);
  });
  $('no').addEventListener('click', function () {
    form.hidden = false;
    select.focus();
  });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    send(false, select.value);
  });
  ['dragenter', 'dragover'].forEach(function (t) {
    drop.addEventListener(t, function (e) {
      e.preventDefault();
      drop.classList.add('dragging');
    });
  });
  ['dragleave', 'drop'].forEach(function (t) {
    drop.addEventListener(t, function (e) {
      e.preventDefault();
      drop.classList.remove('dragging');
    });
  });
  drop.addEventListener('drop', function (e) {
    var f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) classify(f);
  });
})();
